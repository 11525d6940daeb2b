CREATE TABLE race.only_once (id integer PRIMARY KEY);
