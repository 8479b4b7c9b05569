/* API tokens: random, shown once, stored only as a SHA-256 hash (OpenSSL libcrypto). */
#ifndef CRMLOG_TOKEN_H
#define CRMLOG_TOKEN_H

#define TOKEN_LEN 48      /* "crml_" + 40 hex + NUL, with room */
#define TOKEN_HASH_LEN 65 /* hex SHA-256 + NUL */

/* A new token from the kernel's random source into out (TOKEN_LEN bytes). */
int token_new(char *out, char *err);
/* The hex SHA-256 of token into out (TOKEN_HASH_LEN bytes). */
void token_hash(const char *token, char *out);
/* Compares two NUL-terminated strings in time independent of where they differ. */
int token_equal(const char *a, const char *b);

#endif
