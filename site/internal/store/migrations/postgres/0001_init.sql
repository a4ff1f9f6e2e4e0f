-- 0001: members, sessions, verification tokens, outbox, photos, likes, blocks.
CREATE TABLE members (
  id            BIGINT PRIMARY KEY,
  email         TEXT    NOT NULL,
  password_hash TEXT    NOT NULL,
  nickname      TEXT    NOT NULL,
  gender        TEXT    NOT NULL,
  birth_year    INTEGER NOT NULL,
  city          TEXT    NOT NULL,
  height_cm     INTEGER NOT NULL DEFAULT 0,
  education     TEXT    NOT NULL DEFAULT '',
  occupation    TEXT    NOT NULL DEFAULT '',
  interests     TEXT    NOT NULL DEFAULT '',
  bio           TEXT    NOT NULL DEFAULT '',
  photo         TEXT    NOT NULL DEFAULT '',
  demo          INTEGER NOT NULL DEFAULT 0,
  verified      INTEGER NOT NULL DEFAULT 0,
  -- who may see this member's presence: 'members', 'matches' or 'nobody' (enforced later).
  presence_visibility TEXT NOT NULL DEFAULT 'members',
  created_ms    BIGINT  NOT NULL,
  last_active_ms BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX members_email ON members (email);
CREATE INDEX members_activity ON members (last_active_ms, id);
CREATE INDEX members_city_activity ON members (city, last_active_ms, id);

CREATE TABLE sessions (
  token_hash BYTEA    PRIMARY KEY,
  member_id  BIGINT  NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
CREATE INDEX sessions_member ON sessions (member_id);

CREATE TABLE email_tokens (
  token_hash BYTEA    PRIMARY KEY,
  member_id  BIGINT  NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  purpose    TEXT    NOT NULL,
  expires_ms BIGINT NOT NULL
);

CREATE TABLE outbox (
  id         TEXT    PRIMARY KEY,
  to_addr    TEXT    NOT NULL,
  subject    TEXT    NOT NULL,
  body       TEXT    NOT NULL,
  created_ms BIGINT NOT NULL,
  sent_ms    BIGINT  NOT NULL DEFAULT 0,
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (sent_ms, created_ms);

CREATE TABLE photos (
  hash         TEXT    PRIMARY KEY,
  content_type TEXT    NOT NULL,
  data         BYTEA    NOT NULL,
  created_ms   BIGINT  NOT NULL
);

CREATE TABLE likes (
  liker_id   BIGINT  NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  likee_id   BIGINT  NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (liker_id, likee_id)
);
CREATE INDEX likes_likee ON likes (likee_id, liker_id);

-- Blocks: stored now, enforced by the presence privacy change.
CREATE TABLE blocks (
  blocker_id BIGINT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  blocked_id BIGINT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (blocker_id, blocked_id)
);
