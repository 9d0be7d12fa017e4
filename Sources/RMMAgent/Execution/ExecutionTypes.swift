import RMMProtocol

/// Something that happened to a command on the agent.
public enum ExecutionEvent: Sendable, Equatable {
    /// The process exists; `time` is Unix seconds.
    case started(commandId: String, pid: Int32?, time: Double)
    /// Live output: per-stream byte offsets from 0, at most `outputChunkBytes`, only bytes within the cap.
    case output(CommandOutput)
    /// Exactly one per accepted command; carries the whole (capped) stdout/stderr.
    case finished(CommandResult)
}

/// Limits the executor enforces; they come from the server's config.
public struct ExecutorLimits: Sendable, Equatable {
    /// Commands running at once.
    public var maxConcurrent: Int
    /// Waiting commands beyond the running ones.
    public var maxQueued: Int
    /// Bytes kept per stream; beyond it bytes are dropped and `*Truncated` is set.
    public var outputCapBytes: Int
    /// Largest `CommandOutput.data` sent while a command runs.
    public var outputChunkBytes: Int
    /// Added to the inherited environment of every command.
    public var environment: [String: String]

    public init(
        maxConcurrent: Int = 4, maxQueued: Int = 256, outputCapBytes: Int = 4 << 20,
        outputChunkBytes: Int = 16 * 1024, environment: [String: String] = [:]
    ) {
        self.maxConcurrent = maxConcurrent
        self.maxQueued = maxQueued
        self.outputCapBytes = outputCapBytes
        self.outputChunkBytes = outputChunkBytes
        self.environment = environment
    }

    /// The same limits with nonsense values (zero, negative) raised to the smallest workable ones,
    /// so a bad config slows the agent down instead of wedging it.
    var sanitized: ExecutorLimits {
        var limits = self
        limits.maxConcurrent = max(1, maxConcurrent)
        limits.maxQueued = max(0, maxQueued)
        limits.outputCapBytes = max(0, outputCapBytes)
        limits.outputChunkBytes = max(1, outputChunkBytes)
        return limits
    }
}

/// The executor's immediate answer to `submit`.
public enum SubmitDecision: Sendable, Equatable {
    case accepted
    case rejected(reason: String)
}

/// Why a running command is being stopped; the first cause wins.
enum StopCause: Sendable, Equatable {
    case timedOut
    case cancelled(reason: String)
    case shutdown
}
