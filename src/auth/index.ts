export { AUTHZ_STAGE_NAME, createAuthzStage } from './authz-stage.ts';
export { createAllowAllVerifier, createJwtVerifier, createVerifier, type JwtAuthConfig } from './jwt-verifier.ts';
export { canRead, canWrite, compilePermissions, matches, type CompiledPatterns, type CompiledPermissions } from './permissions.ts';
export { docsClaimSchema, principalFromClaims, type DocsClaim, type TokenVerifier } from './token-verifier.ts';
