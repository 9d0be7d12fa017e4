import Subprocess

/// An executable and its arguments, ready to spawn.
public struct ProcessInvocation: Sendable, Equatable {
    /// Absolute path, or a bare name looked up on PATH.
    public var executable: String
    public var arguments: [String]
    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }
}

/// How a process group is asked to stop.
public enum GroupStop: Sendable, Equatable {
    /// Ask politely (SIGTERM on Unix): the command may clean up.
    case terminate
    /// End it now (SIGKILL on Unix).
    case kill
}

/// Everything about running commands that differs between operating systems.
///
/// The executor and journal only talk to this seam, so a Windows/PowerShell platform can be added
/// without touching them.
public protocol CommandPlatform: Sendable {
    /// Interpreter for scripts that name none.
    var defaultInterpreter: String { get }
    /// File name suffix script files need for their interpreter to accept them ("" on Unix, ".ps1" for PowerShell).
    var scriptFileExtension: String { get }
    /// How to run one command line through the platform's shell.
    func shellInvocation(commandLine: String) -> ProcessInvocation
    /// How to run a script file with an interpreter.
    func scriptInvocation(interpreter: String, scriptPath: String) -> ProcessInvocation
    /// Spawn options that put the child in a new process group of its own.
    func spawnOptions() -> PlatformOptions
    /// Signals the whole group led by `leader`; false when no such group exists any more.
    @discardableResult
    func stopProcessGroup(leader: Int32, how: GroupStop) -> Bool
    /// An opaque token naming this very process instance (boot + start time), nil if it is gone.
    /// Lets a restarted agent tell its own orphaned command from an unrelated process that reuses the pid.
    func processIdentity(pid: Int32) -> String?
    /// After an agent restart: SIGKILLs the group led by `leader` if it is still the command's group
    /// (`identity` is what `processIdentity` said when the command started). Returns true if it signalled.
    @discardableResult
    func killOrphanedProcessGroup(leader: Int32, identity: String?) -> Bool
}

/// The platform this agent binary runs on.
public func currentCommandPlatform() -> any CommandPlatform {
    #if os(Linux) || os(macOS) || os(FreeBSD)
    return LinuxCommandPlatform()
    #else
    #error("no CommandPlatform for this operating system yet")
    #endif
}
