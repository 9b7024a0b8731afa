-- Version 3: reserved for a migration being written beside version 4; it changes nothing.
SELECT 1;
