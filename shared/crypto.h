/* Tokens and password hashes, on libsodium. chat_crypto_init() must run once per process
 * before any other call here. */
#ifndef CHAT_CRYPTO_H
#define CHAT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* 32 random bytes as base64url without padding: 43 characters + NUL. */
#define CHAT_TOKEN_CHARS 43
#define CHAT_TOKEN_HASH_BYTES 32

int chat_crypto_init(void);

/* Writes a fresh random token into out (CHAT_TOKEN_CHARS + 1 bytes). */
void chat_token_new(char out[CHAT_TOKEN_CHARS + 1]);

/* SHA-256 of the token text, the form stored in the database. */
void chat_token_hash(const char *token, size_t len, unsigned char out[CHAT_TOKEN_HASH_BYTES]);

/* Hashes a password with argon2id using the configured costs. out must hold 128 bytes.
 * Returns CHAT_OK or CHAT_E_NOMEM when the memory cost cannot be allocated. */
int chat_password_hash(const struct chat_config *cfg, const char *password, char out[128]);

/* Verifies password against a stored argon2id hash string. */
bool chat_password_verify(const char *stored_hash, const char *password);

/* Spends as long as a real verification, so that a login for an unknown user is not
 * distinguishable by timing: one argon2id run against a dummy hash made once per process
 * (the very first call also makes that hash). Thread-safe. */
void chat_password_dummy_verify(const struct chat_config *cfg, const char *password);

/* How many argon2id runs (hashes and verifications) this process has made; for tests. */
long chat_password_runs(void);

/* A counting gate around password hashing, so argon2id cannot occupy every request thread
 * of chat-httpd: at most `slots` holders at once (0, the default: no gate). Call once,
 * before the threads start. chat_password_gate_enter() does not wait: it returns false
 * when every slot is taken (the caller answers 503 busy with Retry-After); after true,
 * call chat_password_gate_leave(). */
void chat_password_gate_init(int slots);
bool chat_password_gate_enter(void);
void chat_password_gate_leave(void);

/* Constant-time string comparison for secrets of possibly different lengths. */
bool chat_secret_equal(const char *a, const char *b);

#endif
