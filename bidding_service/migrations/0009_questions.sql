-- Clarification questions (spec methods.md): the asker is never stored, only a keyed
-- digest of (round, supplier) so that the asker's own view can say `mine: true`.
CREATE TABLE questions (
    id          uuid PRIMARY KEY,
    round_id    uuid NOT NULL REFERENCES rounds (id),
    text        text NOT NULL,
    asked_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    asker_tag   text NOT NULL,
    answer      text,
    answered_at timestamptz
);
CREATE INDEX questions_round ON questions (round_id, asked_at, id);
