/*
 * dotenv.h - loads a .env file into the process environment without overriding, following
 * the rules of dotenvy 0.15 (the crate upstream uses; spec core §2.1 step 2).
 */
#ifndef AB_DOTENV_H
#define AB_DOTENV_H

/*
 * Loads KEY=VALUE entries from path into the environment with setenv(key, value, 0): a
 * variable that already exists (even empty) keeps its value. Rules (dotenvy 0.15): blank lines
 * and lines starting with '#' are skipped; an optional "export " prefix; whitespace around the
 * key and '=' is ignored; keys match [A-Za-z_][A-Za-z0-9_.]*; values are unquoted (ends at
 * whitespace, which may only be followed by whitespace or a '#' comment), 'single quoted'
 * (literal) or "double quoted" (escapes \n \t \\ \" \' \$ and "\ ", may span lines), and the
 * parts may be concatenated; $VAR / ${VAR} are substituted from the environment in unquoted and
 * double-quoted parts (an unset name becomes ""; $NAME takes ASCII letters and digits only).
 *
 * Returns 0 when the file was loaded or does not exist (ENOENT). On a read error or a parse
 * error returns AB_EPROTO / a negated errno and, if warning is not NULL, sets *warning to a
 * malloc'ed message for the caller to log (e.g. "Error parsing line: 'K=a b', error at line
 * index: 2"); entries before the bad one stay loaded, the rest of the file is skipped.
 * Not thread-safe (setenv): call before other threads start.
 */
int ab_dotenv_load(const char *path, char **warning);

#endif
