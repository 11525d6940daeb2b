ALTER TABLE demo.things ADD COLUMN size integer NOT NULL DEFAULT 0;
