CREATE TABLE IF NOT EXISTS demo.things (id serial PRIMARY KEY, name text NOT NULL);
