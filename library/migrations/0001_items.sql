-- The library's items: one finished result each, its caller's alone (owner: the API key's name, '' without keys).
CREATE TABLE library_items (
    id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- what the gateway's cache of vectors knows an item by
    owner text NOT NULL,
    kind text NOT NULL,  -- compose, generate_midi, render, transcribe, separate, generate_audio
    created timestamptz NOT NULL DEFAULT now(),
    request jsonb NOT NULL,  -- the request, its large byte fields left out
    prompt text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{}',  -- genre, key, bpm, meter, bars, instruments, sections, unknown words
    -- Copied out of metadata, for the filters.
    genre text,
    musical_key text,
    bpm real,
    meter text,
    timings jsonb NOT NULL DEFAULT '{}',  -- seconds by stage, and in all
    tags text[] NOT NULL DEFAULT '{}',
    pinned boolean NOT NULL DEFAULT false,
    size_bytes bigint NOT NULL DEFAULT 0,  -- its files' sizes
    description text NOT NULL DEFAULT '',  -- the words a search matches (library.describe)
    words tsvector GENERATED ALWAYS AS (to_tsvector('english', description)) STORED,
    -- float32, unit norm (library.describe); ranked in the gateway (library.ranking): pgvector is not in Debian 12.
    text_vector bytea NOT NULL,
    sound_vector bytea
);
CREATE INDEX library_items_by_owner ON library_items (owner, created DESC, seq DESC);
CREATE INDEX library_items_by_age ON library_items (created) WHERE NOT pinned;
CREATE INDEX library_items_words ON library_items USING gin (words);
CREATE INDEX library_items_tags ON library_items USING gin (tags);

-- An item's files; their bytes live in the content store (gateway.artifacts.ContentStore), named by sha256, shared by
-- items that hold the same bytes.
CREATE TABLE library_files (
    item_id text NOT NULL REFERENCES library_items (id) ON DELETE CASCADE,
    name text NOT NULL,
    media_type text NOT NULL,
    sha256 text NOT NULL,
    size_bytes bigint NOT NULL,
    PRIMARY KEY (item_id, name)
);
CREATE INDEX library_files_by_content ON library_files (sha256);
