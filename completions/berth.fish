function __berth_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __berth_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __berth_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __berth_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __berth_parse_tokens -S
    set -l unparsed_tokens (__berth_tokens -pc)
    switch $unparsed_tokens[1]
    case 'berth'
        __berth_parse_subcommand 0 'h/help'
        switch $unparsed_tokens[1]
        case 'run'
            __berth_parse_subcommand -r 1 'cpu=' 'cpu-weight=' 'memory=' 'memory-high=' 'swap=' 'io-read=' 'io-write=' 'io-read-iops=' 'io-write-iops=' 'io-device=' 'io-weight=' 'pids=' 'tenant=' 'timeout=' 'grace=' 'strict' 'json' 't/terminal' 'summary-file=' 'e/env=+' 'workdir=' 'cgroup-root=' 'cap-add=+' 'seccomp=' 'runtime-dir=' 'state-dir=' 'checkpoint-root=' 'status-keep-last=' 'status-max-age=' 'h/help'
        case 'doctor'
            __berth_parse_subcommand 0 'cgroup-root=' 'h/help'
        case 'serve'
            __berth_parse_subcommand 0 'config=' 'state-dir=' 'socket=' 'listen=' 'tls-cert=' 'tls-key=' 'insecure-tcp' 'cgroup-root=' 'rate-limit=' 'tenant-grace=' 'set=+' 'stop-jobs' 'help-config' 'h/help'
        case 'submit'
            __berth_parse_subcommand 1 'tenant=' 'wait' 'dry-run' 'idempotency-key=' 'socket=' 'address=' 'token=' 'json' 'h/help'
        case 'ls'
            __berth_parse_subcommand 0 'tenant=' 'a/all' 'socket=' 'address=' 'token=' 'json' 'h/help'
        case 'status'
            __berth_parse_subcommand 1 'tenant=' 'socket=' 'address=' 'token=' 'json' 'h/help'
        case 'logs'
            __berth_parse_subcommand 1 'tenant=' 'f/follow' 'stderr' 'tail=' 'socket=' 'address=' 'token=' 'json' 'h/help'
        case 'stop'
            __berth_parse_subcommand 1 'tenant=' 'socket=' 'address=' 'token=' 'json' 'h/help'
        case 'rm'
            __berth_parse_subcommand 1 'tenant=' 'socket=' 'address=' 'token=' 'json' 'h/help'
        case 'tenant'
            __berth_parse_subcommand 0 'h/help'
            switch $unparsed_tokens[1]
            case 'add'
                __berth_parse_subcommand 1 'socket=' 'address=' 'token=' 'json' 'h/help'
            case 'ls'
                __berth_parse_subcommand 0 'socket=' 'address=' 'token=' 'json' 'h/help'
            case 'rm'
                __berth_parse_subcommand 1 'socket=' 'address=' 'token=' 'json' 'h/help'
            end
        case 'token'
            __berth_parse_subcommand 0 'h/help'
            switch $unparsed_tokens[1]
            case 'create'
                __berth_parse_subcommand 1 'socket=' 'address=' 'token=' 'json' 'h/help'
            end
        case 'quota'
            __berth_parse_subcommand 0 'h/help'
            switch $unparsed_tokens[1]
            case 'set'
                __berth_parse_subcommand 1 'cpu=' 'memory=' 'io=' 'network=' 'pids=' 'jobs=' 'socket=' 'address=' 'token=' 'json' 'h/help'
            case 'show'
                __berth_parse_subcommand 1 'socket=' 'address=' 'token=' 'json' 'h/help'
            end
        case 'help'
            __berth_parse_subcommand -r 1 
        end
    end
end

function __berth_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __berth_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __berth_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __berth_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__berth_tokens -p)
    if test -z "$(__berth_tokens -t)"
        set -l index (count (__berth_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'berth' -f
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'run' -d 'Run a command as a job in its own limited cgroup and wait for it.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'doctor' -d 'Tell what this host can do for Berth, and what to fix.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'serve' -d 'Run the Berth daemon: the store, the reconciler and the API.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'submit' -d 'Submit a job from its spec file (YAML or JSON).'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'ls' -d 'List jobs: the running and waiting ones, or all with --all.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'status' -d 'Show a job: its spec and phase, its runs, and its recent events.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'logs' -d 'Print a job\'s output (stdout, or stderr with --stderr), as written.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'stop' -d 'Stop a job: its run gets SIGTERM, then is killed after its grace period.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'rm' -d 'Remove a job: stop it, then delete it.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'tenant' -d 'Add, list and remove tenants (operator).'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'token' -d 'Make API tokens for tenants (operator).'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'quota' -d 'Set and show tenants\' quotas: ceilings on what their admitted jobs hold at once.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" cpu' -l 'cpu' -d 'CPU limit in cores: 0.5 or 500m.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" cpu-weight' -l 'cpu-weight' -d 'Relative CPU weight, 1 to 10000 (default 100).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" memory' -l 'memory' -d 'Memory limit: 64Mi, 2G (G = 10^9, Gi = 2^30).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" memory-high' -l 'memory-high' -d 'Soft memory limit: throttled and reclaimed above it, never killed.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" swap' -l 'swap' -d 'Swap allowed (default 0: off).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" io-read' -l 'io-read' -d 'Read bandwidth limit in bytes per second: 10Mi.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" io-write' -l 'io-write' -d 'Write bandwidth limit in bytes per second: 1Mi.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" io-read-iops' -l 'io-read-iops' -d 'Read operations per second.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" io-write-iops' -l 'io-write-iops' -d 'Write operations per second.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" io-device' -l 'io-device' -d 'A path on the disk the I/O limits apply to (default: the working directory\'s).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" io-weight' -l 'io-weight' -d 'Relative I/O weight, 1 to 10000 (default 100), where the I/O scheduler supports it.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" pids' -l 'pids' -d 'Maximum number of tasks (processes and threads).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" tenant' -l 'tenant' -d 'Tenant to run as (default: default).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" timeout' -l 'timeout' -d 'Stop the job after this long: 30s, 5m, 1h. Exit code 124.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" grace' -l 'grace' -d 'Time between SIGTERM and kill when stopping (default 10s).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" strict' -l 'strict' -d 'Fail instead of warning when the host cannot enforce a limit.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" json' -l 'json' -d 'Print the summary as one JSON object.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" t terminal' -s 't' -l 'terminal' -d 'Give the job this terminal (or these files) as its stdin, stdout and stderr; by default they are pipes Berth relays.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" summary-file' -l 'summary-file' -d 'Write the summary to this file instead of stderr.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run"' -s 'e' -l 'env' -d 'Set KEY=VALUE in the job\'s environment; KEY alone copies it from here.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" workdir' -l 'workdir' -d 'The job\'s working directory (default: the current one).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" cgroup-root' -l 'cgroup-root' -d 'Berth\'s cgroup root, as a cgroup path (default: <own cgroup>/berth).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run"' -l 'cap-add' -d 'Grant the job a capability as an ambient one (operator only): NET_BIND_SERVICE, SYS_NICE or IPC_LOCK.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" seccomp' -l 'seccomp' -d 'Seccomp profile: default, or unconfined where the operator allows it (BERTH_ALLOW_UNCONFINED=1).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" runtime-dir' -l 'runtime-dir' -d 'Berth\'s runtime directory: status files, run roots (default /run/berth).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" state-dir' -l 'state-dir' -d 'Berth\'s state directory: tenant uids (default /var/lib/berth).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" checkpoint-root' -l 'checkpoint-root' -d 'The checkpoint root (default <state-dir>/checkpoints).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" status-keep-last' -l 'status-keep-last' -d 'Operator setting: how many ended runs\' status files to keep (default 1000).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" status-max-age' -l 'status-max-age' -d 'Operator setting: remove ended runs\' status files older than this (default 168h).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth run" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth doctor" cgroup-root' -l 'cgroup-root' -d 'The cgroup root Berth would use.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" config' -l 'config' -d 'A YAML config file of key: value settings.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" state-dir' -l 'state-dir' -d 'Where the store, logs, socket and operator token live (default /var/lib/berth).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" socket' -l 'socket' -d 'The API\'s Unix socket (default <state-dir>/berth.sock).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" listen' -l 'listen' -d 'Also serve the API over TCP at HOST:PORT (TLS, or --insecure-tcp on loopback).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" tls-cert' -l 'tls-cert' -d 'PEM certificate chain for --listen.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" tls-key' -l 'tls-key' -d 'PEM private key for --listen.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" insecure-tcp' -l 'insecure-tcp' -d 'Allow plain HTTP on --listen, loopback only.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" cgroup-root' -l 'cgroup-root' -d 'Berth\'s cgroup root, as a cgroup path.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" rate-limit' -l 'rate-limit' -d 'API requests per second per tenant (0: none).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" tenant-grace' -l 'tenant-grace' -d 'Time before a removed tenant\'s resources are released (default 1h).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve"' -l 'set' -d 'Any config key as KEY=VALUE (repeatable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" stop-jobs' -l 'stop-jobs' -d 'Stop every job when the daemon stops.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" help-config' -l 'help-config' -d 'List the config file\'s keys and exit.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth serve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth submit" -eq 1' -fa '(set -l exts \'yaml\' \'yml\' \'json\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" tenant' -l 'tenant' -d 'The tenant the job is for (operator; a tenant submits its own).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" wait' -l 'wait' -d 'Wait until the job ends, printing each change; exit 1 if it failed.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" dry-run' -l 'dry-run' -d 'Check the spec and say whether the job would start now; submit nothing.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" idempotency-key' -l 'idempotency-key' -d 'Submit at most once under this key: a retry answers the first submission.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth submit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" tenant' -l 'tenant' -d 'Only this tenant\'s jobs (operator).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" a all' -s 'a' -l 'all' -d 'Include the jobs that have ended: stopped, succeeded, failed.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth ls" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth status" tenant' -l 'tenant' -d 'The tenant whose job NAME is (operator; a tenant names its own jobs).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth status" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth status" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth status" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth status" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" tenant' -l 'tenant' -d 'The tenant whose job NAME is (operator; a tenant names its own jobs).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" f follow' -s 'f' -l 'follow' -d 'Keep printing as the job writes, until its run ends.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" stderr' -l 'stderr' -d 'Print the job\'s standard error instead of its standard output.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" tail' -l 'tail' -d 'Only the last N lines.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth logs" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth stop" tenant' -l 'tenant' -d 'The tenant whose job NAME is (operator; a tenant names its own jobs).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth stop" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth stop" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth stop" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth stop" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth stop" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth rm" tenant' -l 'tenant' -d 'The tenant whose job NAME is (operator; a tenant names its own jobs).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth rm" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth rm" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth rm" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth rm" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth rm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth tenant" -eq 1' -fa 'add' -d 'Add a tenant and print its first token, alone on the line: TOKEN=$(berth tenant add NAME).'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth tenant" -eq 1' -fa 'ls' -d 'List the tenants and their quotas.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth tenant" -eq 1' -fa 'rm' -d 'Remove a tenant: its jobs are stopped and removed, then its uid, cgroup and checkpoints released.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant add" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant add" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant add" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant add" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant ls" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant ls" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant ls" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant ls" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant ls" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant rm" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant rm" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant rm" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant rm" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth tenant rm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth token" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth token" -eq 1' -fa 'create' -d 'Make another token for a tenant and print it, alone on the line.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth token create" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth token create" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth token create" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth token create" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth token create" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth quota" -eq 1' -fa 'set' -d 'Set a tenant\'s limits; the ones not given stay as they are, \'none\' removes one (operator).'
complete -c 'berth' -n '__berth_should_offer_completions_for_positional "berth quota" -eq 1' -fa 'show' -d 'Show quotas beside what admitted jobs use (used/limit), and how many jobs wait.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" cpu' -l 'cpu' -d 'CPU in cores: 4, 0.5, 500m.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" memory' -l 'memory' -d 'Memory: 8Gi, 512Mi.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" io' -l 'io' -d 'Block I/O in bytes per second, each direction: 100Mi.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" network' -l 'network' -d 'Network in bits per second, each direction: 100Mbit.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" pids' -l 'pids' -d 'Tasks (processes and threads).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" jobs' -l 'jobs' -d 'Jobs running at once.' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota set" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota show" socket' -l 'socket' -d 'The daemon\'s Unix socket (env BERTH_SOCKET; default /var/lib/berth/berth.sock).' -rF
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota show" address' -l 'address' -d 'Talk to the daemon over TCP instead: http://HOST:PORT or https://HOST:PORT (env BERTH_ADDR).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota show" token' -l 'token' -d 'The API token (env BERTH_TOKEN; default, on the socket: operator.token beside the socket, when readable).' -rfka ''
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota show" json' -l 'json' -d 'Print the API\'s JSON, for scripts.'
complete -c 'berth' -n '__berth_should_offer_completions_for_flags_or_options "berth quota show" h help' -s 'h' -l 'help' -d 'Show help information.'
