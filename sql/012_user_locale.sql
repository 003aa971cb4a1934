-- The language a user chose for the page and the API's error texts (issue 13, item 4;
-- docs/API.md, "Languages"). NULL: none chosen, the request's Accept-Language decides.
-- One of the catalog locales (i18n/): 'en', 'pt-BR', 'es'; PATCH /api/users/me/ refuses
-- anything else.
ALTER TABLE users ADD COLUMN locale VARCHAR(8) CHARACTER SET ascii NULL;
