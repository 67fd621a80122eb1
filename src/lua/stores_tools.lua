-- register_tools of std.kv / std.sql / std.ts (spec core §4.6, §4.7.4, §4.8.5): loaded by
-- src/lua/stores.lua the first time a script calls one of them, not at every VM start (most
-- scripts never do; this is most of the stores glue). Returns { kv = fn, sql = fn, ts = fn }.
local M = {}

-- Registers the tools named in opts.allowed (default `order`, unknown names skipped) from
-- defs[name] = { description, input_schema, handler }; returns the registered names in order.
local function register(defs, order, opts, default_prefix)
  opts = opts or {}
  local allowed = opts.allowed or order
  local prefix = opts.prefix or default_prefix
  local names = {}
  for _, op in ipairs(allowed) do
    local d = defs[op]
    if d then
      local name = prefix .. op
      tool.register(name, { description = d.description, input_schema = d.input_schema },
        d.handler)
      names[#names + 1] = name
    end
  end
  return names
end

function M.kv(opts)
  local lock = opts and opts.ns_lock
  local function schema(props, required)
    local p, req = {}, {}
    if not lock then
      p.ns = { type = "string", description = "Namespace (a logical group of keys)" }
      req[1] = "ns"
    end
    for k, v in pairs(props) do p[k] = v end
    for _, r in ipairs(required) do req[#req + 1] = r end
    local s = { type = "object", properties = p }
    -- an empty Lua table would encode as {} and Anthropic wants an array: omit it instead
    if #req > 0 then s.required = req end
    return s
  end
  local function ns_of(input) return lock or input.ns end
  local defs = {
    get = {
      description = "Read a value from the agent's private key-value store (JSON-file backed, "
        .. "kept across runs). Returns { value = ... }; value is nil when the key is absent.",
      input_schema = schema({ key = { type = "string" } }, { "key" }),
      handler = function(input) return { value = std.kv.get(ns_of(input), input.key) } end,
    },
    set = {
      description = "Write a value into the agent's private key-value store (JSON-file backed, "
        .. "kept across runs), replacing any value already stored under the key.",
      input_schema = schema({
        key = { type = "string" },
        value = { description = "The value: string, number, boolean or table" },
      }, { "key", "value" }),
      handler = function(input)
        std.kv.set(ns_of(input), input.key, input.value)
        return { ok = true }
      end,
    },
    delete = {
      description = "Remove a key from the agent's private key-value store. "
        .. "Returns { deleted = true|false } (false when the key did not exist).",
      input_schema = schema({ key = { type = "string" } }, { "key" }),
      handler = function(input) return { deleted = std.kv.delete(ns_of(input), input.key) } end,
    },
    list = {
      description = "List the keys of a namespace of the agent's private key-value store, "
        .. "optionally only those starting with a prefix. Returns { keys = [...] }.",
      input_schema = schema({
        prefix = { type = "string", description = "Only keys starting with this prefix" },
      }, {}),
      handler = function(input) return { keys = std.kv.list(ns_of(input), input.prefix) } end,
    },
  }
  return register(defs, { "get", "set", "delete", "list" }, opts, "kv_")
end

function M.sql(opts)
  local schema = {
    type = "object",
    properties = {
      sql = { type = "string" },
      params = {
        type = "array",
        description = "Positional parameters for the ? placeholders",
      },
    },
    required = { "sql" },
  }
  local defs = {
    query = {
      description = "Run one SQL statement that returns rows against the agent's SQLite "
        .. "database (5 s timeout). Returns { rows = [...] }; SQL NULL columns come back as "
        .. "the std.sql.null sentinel.",
      input_schema = schema,
      handler = function(input) return { rows = std.sql.query(input.sql, input.params) } end,
    },
    exec = {
      description = "Run one SQL statement that returns no rows (INSERT, UPDATE, DELETE, DDL) "
        .. "against the agent's SQLite database (5 s timeout). Returns { affected, last_id }; "
        .. "use std.sql.null semantics for NULL values.",
      input_schema = schema,
      handler = function(input)
        local r = std.sql.exec(input.sql, input.params)
        return { affected = r.affected, last_id = r.last_id }
      end,
    },
  }
  return register(defs, { "query", "exec" }, opts, "sql_")
end

function M.ts(opts)
  local tags_schema = {
    type = "object",
    description = "Flat labels; keys must match [a-zA-Z0-9_]+",
    additionalProperties = { type = "string" },
  }
  local defs = {
    append = {
      description = "Append a point to a named time series in the agent's local SQLite "
        .. "database (kept across runs). value may be a number or a table (stored as JSON); "
        .. "tags label the point; at is Unix milliseconds (default: now).",
      input_schema = {
        type = "object",
        properties = {
          series = { type = "string", description = "Series name" },
          value = { description = "The point's payload: a number or a table" },
          tags = tags_schema,
          at = { type = "integer", description = "Unix timestamp in milliseconds" },
        },
        required = { "series", "value" },
      },
      handler = function(input)
        std.ts.append(input.series, input.value, input.tags, input.at)
        return { ok = true }
      end,
    },
    query = {
      description = "Read a time series. Without agg: rows { ts, value, tags } in time order. "
        .. "With agg (count, sum, avg, last) and no bucket_ms: one aggregate row. With agg and "
        .. "bucket_ms: one row { bucket_ts, value } per bucket. Tag filters must all match; "
        .. "sum and avg read values as numbers (non-numbers count as 0).",
      input_schema = {
        type = "object",
        properties = {
          series = { type = "string", description = "Series name" },
          opts = {
            type = "object",
            description = "Query options",
            properties = {
              from = { type = "integer", description = "Inclusive start, Unix ms" },
              to = { type = "integer", description = "Inclusive end, Unix ms" },
              tags = tags_schema,
              agg = { type = "string", enum = { "count", "sum", "avg", "last" } },
              bucket_ms = { type = "integer", description = "Bucket width in ms (> 0); needs agg" },
              limit = { type = "integer", description = "At most this many rows (>= 0)" },
              offset = { type = "integer", description = "Skip this many rows (>= 0)" },
            },
          },
        },
        required = { "series" },
      },
      handler = function(input) return { rows = std.ts.query(input.series, input.opts) } end,
    },
    last = {
      description = "The latest point of a time series (optionally among points whose tags "
        .. "all match). Returns { row = { ts, value, tags } }, or no row when there is none.",
      input_schema = {
        type = "object",
        properties = {
          series = { type = "string", description = "Series name" },
          tags = tags_schema,
        },
        required = { "series" },
      },
      handler = function(input) return { row = std.ts.last(input.series, input.tags) } end,
    },
  }
  return register(defs, { "append", "query", "last" }, opts, "ts_")
end

return M
