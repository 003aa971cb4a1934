#include "crypto.h"

#include <sodium.h>
#include <string.h>

#include "errors.h"
#include "log.h"

int chat_crypto_init(void)
{
    if (sodium_init() < 0) {
        log_error("libsodium failed to initialise");
        return -1;
    }
    return 0;
}

void chat_token_new(char out[CHAT_TOKEN_CHARS + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, CHAT_TOKEN_CHARS + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void chat_token_hash(const char *token, size_t len, unsigned char out[CHAT_TOKEN_HASH_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)token, len);
}

int chat_password_hash(const struct chat_config *cfg, const char *password, char out[128])
{
    _Static_assert(crypto_pwhash_STRBYTES <= 128, "hash buffer too small");
    if (crypto_pwhash_str_alg(out, password, strlen(password),
                              (unsigned long long)cfg->password_opslimit,
                              (size_t)cfg->password_memlimit_kib * 1024u,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        log_error("argon2id hashing failed (out of memory?)");
        return CHAT_E_NOMEM;
    }
    return CHAT_OK;
}

bool chat_password_verify(const char *stored_hash, const char *password)
{
    if (strncmp(stored_hash, "$argon2id$", 10) != 0)
        return false;
    return crypto_pwhash_str_verify(stored_hash, password, strlen(password)) == 0;
}

void chat_password_dummy_verify(const struct chat_config *cfg, const char *password)
{
    char hash[128];
    if (chat_password_hash(cfg, "timing-equaliser", hash) == CHAT_OK)
        (void)chat_password_verify(hash, password);
}

bool chat_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return false;
    return sodium_memcmp(a, b, la) == 0;
}
