import RMMProtocol

/// Whether a command frame runs, and what the server is told: the agent's decision, shared with
/// the fleet simulator so both answer the same frames the same way. Pure: the caller looks up what
/// it holds (the journal, or a simulator's recent ids) and carries out the verdict.
///
/// Verify, then remember, then ack, then run: an id runs at most once, and nothing about a frame
/// that fails its check is kept or acked.
public enum CommandAdmission {
    /// What to do with one command frame.
    public enum Verdict: Sendable, Equatable {
        /// Not what the server signed: the receive position stays. `remember`: keep the id as
        /// forged, so a later genuine copy is refused too (the server was told `rejected`);
        /// `report`: send that `rejected` result (false: a forged copy of work already held,
        /// which changes nothing about it; only logged).
        case forged(String, remember: Bool, report: Bool)
        /// Genuine and already held: ack it again as a duplicate.
        case duplicate
        /// Genuine, but it must not run: a `rejected` result, nothing kept; the position moves on.
        case reject(String)
        /// Remember it (journal), ack it, run it.
        case admit
    }

    /// Why a genuine copy is refused after a forged frame with its id.
    public static let forgedEarlierReason = "an earlier frame with this command id failed the signature check"

    /// Decides a command frame from its check, whether the id is already held (journaled or
    /// answered) and whether a frame with this id failed its signature check before.
    public static func decide(_ check: WorkCheck, held: Bool, forgedEarlier: Bool) -> Verdict {
        switch check {
        case .unverifiable:
            return .forged("no pinned server key", remember: false, report: true)
        case .refused(.forged(let why)):
            return held ? .forged(why, remember: false, report: false) : .forged(why, remember: true, report: true)
        case .refused(.refused(let why)):
            return held ? .duplicate : .reject(why)
        case .genuine:
            if forgedEarlier { return .reject(forgedEarlierReason) }
            return held ? .duplicate : .admit
        }
    }
}

/// Whether a cancel frame stops a command, shared by the agent and the fleet simulator.
public enum CancelAdmission {
    /// Where the command to cancel stands, as far as this agent knows.
    public enum Standing: Sendable, Equatable {
        /// Never seen: the cancel came first.
        case unknown
        /// Admitted or running.
        case active
        /// Finished (reported or not).
        case finished
    }

    /// What to do with one cancel frame.
    public enum Verdict: Sendable, Equatable {
        /// Not what the server signed: refused, the receive position stays.
        case forged(String)
        /// Cancelled before it arrived: remember the id (so a late copy never runs) until
        /// `forgetAfter`, and report it `cancelled` with `reason`.
        case cancelBeforeArrival(reason: String, forgetAfter: Double)
        /// Stop the running or queued command.
        case stop
        /// Already over: nothing to do.
        case nothing
    }

    public static func decide(_ check: WorkCheck, cancel: Cancel, standing: Standing, now: Double) -> Verdict {
        if let forgery = check.forgery { return .forged(forgery) }
        switch standing {
        case .unknown:
            // The command's deadline is unknown: it can be at most the maximum validity away, on
            // a server clock up to the skew ahead of ours, and is accepted up to the skew after it.
            let forgetAfter = now + WorkLimits.maxValiditySeconds + 2 * WorkLimits.clockSkewSeconds
            return .cancelBeforeArrival(reason: "cancelled before it reached the agent: \(cancel.reason)", forgetAfter: forgetAfter)
        case .active:
            return .stop
        case .finished:
            return .nothing
        }
    }
}

/// Whether a config is applied, shared by the agent and the fleet simulator.
public enum ConfigAdmission {
    /// What to do with one config (in a welcome or an update).
    public enum Verdict: Sendable, Equatable {
        /// Not what the server signed: kept out, the receive position stays.
        case forged(String)
        /// Genuine but older than the one applied: kept out, the position moves on.
        case stale(String)
        /// Apply it, record its version, confirm it.
        case apply
    }

    public static func decide(_ check: WorkCheck) -> Verdict {
        if let forgery = check.forgery { return .forged(forgery) }
        if case .refused(.refused(let why)) = check { return .stale(why) }
        return .apply
    }
}

extension ExecutorLimits {
    /// The executor's limits a config sets. `maxConcurrent`/`maxQueued` override the config's (a
    /// simulator shares one executor over its whole fleet).
    public init(config: AgentConfig, maxConcurrent: Int? = nil, maxQueued: Int? = nil) {
        self.init(
            maxConcurrent: maxConcurrent ?? config.maxConcurrentCommands, maxQueued: maxQueued ?? config.maxQueuedCommands,
            outputCapBytes: config.outputCapBytes, outputChunkBytes: config.outputChunkBytes,
            environment: config.commandEnvironment
        )
    }
}
