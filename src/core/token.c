#include "token.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "err.h"

int token_new(char *out, char *err)
{
    unsigned char raw[20];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) return err_set(err, ERR_IO, "no random bytes for a token");
        got += (size_t)n;
    }
    int used = snprintf(out, TOKEN_LEN, "crml_");
    for (size_t i = 0; i < sizeof raw; i++)
        used += snprintf(out + used, TOKEN_LEN - (size_t)used, "%02x", raw[i]);
    return 0;
}

/* SHA-256 fetched once: every authenticated request hashes its token, and OpenSSL 3 looks the
 * algorithm up again on each implicit use. Kept for the process's life. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void token_hash(const char *token, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    pthread_once(&sha256_once, sha256_fetch);
    const EVP_MD *alg = sha256 ? sha256 : EVP_sha256();
    if (!EVP_Digest(token, strlen(token), md, &len, alg, NULL)) len = 0;
    for (unsigned int i = 0; i < len && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[len ? 64 : 0] = '\0';
}

int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
