-- Helper module for modules.lua: found through <script_dir>/?/init.lua (spec core §2.2).
return { from = "script dir init", name = (...) }
