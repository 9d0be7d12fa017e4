import Foundation

/// Starts a child with posix_spawn: its own process group, default signal handling, stdin from
/// `standardInput` (/dev/null by default), and stdout and stderr appended to `logPath` — or,
/// given `terminal` (a pseudo-terminal's device path), its own session with that terminal as its
/// controlling one and its stdin, stdout and stderr, as when started from a shell (`logPath` and
/// `standardInput` are then unused).
///
/// posix_spawn rather than Foundation's `Process` because the child writes straight into the
/// log file (no pipe to drain, nothing lost if the test process dies) and because the signal
/// dispositions and process group must be reset and set before exec.
func spawnChild(
    executable: String,
    arguments: [String],
    environment: [String: String],
    logPath: String,
    standardInput: String = "/dev/null",
    terminal: String? = nil
) throws -> pid_t {
    #if canImport(Darwin)
    var actions: posix_spawn_file_actions_t?
    var attributes: posix_spawnattr_t?
    #else
    var actions = posix_spawn_file_actions_t()
    var attributes = posix_spawnattr_t()
    #endif
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }

    if let terminal {
        // Opened by the child after setsid, so it becomes the session's controlling terminal.
        posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        // O_APPEND so that writes from the child and any grandchildren interleave without
        // overwriting each other.
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    // SwiftNIO does not open sockets close-on-exec, so without this every child would inherit
    // every socket the test process has open, and a socket a test closes would stay open (no FIN)
    // for as long as some unrelated child lives.
    closeInheritedDescriptors(&actions)

    // The test runner may ignore or block signals (SIGPIPE especially); ignored dispositions
    // and the mask survive exec, and the child must behave as it would when started by hand.
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    // Its own process group, so the whole tree can be killed with kill(-pid, ...); with a
    // terminal its own session, whose leader also leads its process group.
    posix_spawnattr_setpgroup(&attributes, 0)
    let group = terminal == nil ? POSIX_SPAWN_SETPGROUP : spawnSetSID
    let flags = group | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
    posix_spawnattr_setflags(&attributes, Int16(flags))

    let argv = CStringArray([executable] + arguments)
    let envp = CStringArray(environment.map { "\($0.key)=\($0.value)" })
    var pid: pid_t = 0
    // The arrays own the strings: keep them alive until posix_spawn has copied them.
    let result = withExtendedLifetime((argv, envp)) {
        posix_spawnp(&pid, executable, &actions, &attributes, argv.pointers, envp.pointers)
    }
    guard result == 0 else {
        throw ManagedProcessError.spawnFailed(executable: executable, errno: result)
    }
    return pid
}

/// glibc's `POSIX_SPAWN_SETSID` (2.26+), which the Swift Glibc module does not export: the child
/// calls setsid before its file actions run.
private let spawnSetSID: Int32 = 0x80

/// A NULL-terminated C string array that frees its strings when it goes away.
private final class CStringArray {
    let pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    deinit {
        for pointer in pointers {
            free(pointer)
        }
    }
}

#if canImport(Glibc)
/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), looked up at run time because the
/// Swift Glibc module does not export it.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

/// Makes the child close every descriptor from 3 up.
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
        let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
        if addCloseFrom(&actions, 3) == 0 { return }
    }
    // Older glibc: close what is open now (a descriptor opened concurrently may still leak).
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for fd in open.compactMap({ Int32($0) }) where fd > 2 {
        posix_spawn_file_actions_addclose(&actions, fd)
    }
}
#else
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t?) {}
#endif
