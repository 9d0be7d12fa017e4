import Crypto
import Foundation
import Logging
import RMMAPI
import RMMProtocol
import RMMStore

/// Errors the operator API turns into 4xx responses; each message says what to do.
public struct RequestError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { message }

    /// The store keeps text as C strings, which end at a NUL: operator text with one would be stored cut
    /// short (a script other than the one submitted), so it is refused instead.
    static func refuseNUL(_ text: String?, in field: String) throws {
        if let text, text.utf8.contains(0) { throw RequestError(400, "\(field) contains a NUL character (U+0000), which cannot be stored") }
    }
}

/// The delivery engine: creates commands, cancels them, and expires the undeliverable.
/// Every state change goes to the store first; sessions only send what the store already says.
/// It never decides `sent`: the agent's session does (it holds the connection).
actor CommandService {
    private let store: any CommandStore & DeliveryStore & AgentStore & AuditStore & CancelRequestStore
    private let registry: SessionRegistry
    private let feed: ChangeFeed
    private let settings: ServerSettings
    private let logger: Logger

    init(store: any CommandStore & DeliveryStore & AgentStore & AuditStore & CancelRequestStore, registry: SessionRegistry, feed: ChangeFeed, settings: ServerSettings, logger: Logger) {
        self.store = store
        self.registry = registry
        self.feed = feed
        self.settings = settings
        self.logger = logger
    }

    /// Validates a run request, stores one command per target and hands them to the sessions.
    /// `audit` makes the audit entry for the batch, stored in the commands' own transaction.
    func run(
        _ request: RunRequest, by operatorName: String, now: Date = Date(),
        audit: (@Sendable (_ batchId: String, _ commands: [CommandRecord]) -> AuditEntry)? = nil
    ) async throws -> (batchId: String, commands: [CommandRecord], agentNames: [String: String]) {
        let (kind, text) = try Self.payload(of: request, maxScriptBytes: settings.maxScriptBytes)
        try RequestError.refuseNUL(text, in: kind == .shell ? "command" : "script")
        try RequestError.refuseNUL(request.interpreter, in: "interpreter")
        let timeout = request.timeoutSeconds ?? settings.defaultTimeoutSeconds
        let expires = request.expiresSeconds ?? settings.defaultExpirySeconds
        guard (WorkLimits.minTimeoutSeconds...WorkLimits.maxTimeoutSeconds).contains(timeout) else {
            throw RequestError(400, "timeout_seconds must be between \(WorkLimits.minTimeoutSeconds) and \(Int(WorkLimits.maxTimeoutSeconds))")
        }
        // The agent refuses a start deadline further away than the protocol's maximum validity.
        guard expires > 0, expires <= WorkLimits.maxValiditySeconds else {
            throw RequestError(400, "expires_seconds must be more than 0 and at most \(Int(WorkLimits.maxValiditySeconds)) (the protocol's maximum validity of signed work)")
        }
        if let interpreter = request.interpreter {
            guard kind == .script else { throw RequestError(400, "interpreter only applies to a script") }
            guard interpreter.hasPrefix("/") else { throw RequestError(400, "interpreter must be an absolute path, e.g. /bin/bash") }
        }
        if let interpreter = request.interpreter {
            let allowed = await registry.currentConfig.allowedInterpreters
            guard allowed.contains(interpreter) else {
                throw RequestError(400, "interpreter \(interpreter) is not allowed; allowed: \(allowed.joined(separator: ", ")) (config allowed_interpreters)")
            }
        }
        try Self.checkWireSize(kind: kind, text: text, interpreter: request.interpreter)
        let targets = try await resolveTargets(request)
        let batchId = Self.newId(prefix: "b_")
        // Each target's session decides how its command is stored (`AgentSession.admission`): one
        // whose agent is connected takes it at once, stored `sent` on that connection in the same
        // write as the insert (one write per command fewer, and one commit fewer on an operator's
        // round trip). Agents without a session are not connected: `queued`. With other nodes on
        // the store, every command is stored `queued` instead: the session's later move to `sent`
        // is the one that confirms its connection is still the agent's newest (`markSent`).
        let clustered = registry.clustered
        let admissions = clustered ? [:] : await registry.existingSessions(for: targets.map(\.id)).mapValues { $0.admission() }
        let records = targets.map { agent in
            let admission = admissions[agent.id] ?? .queued
            return CommandRecord(
                id: Self.newCommandId(at: now), agentId: agent.id, batchId: batchId, kind: kind, text: text,
                interpreter: request.interpreter, timeoutSeconds: timeout, createdAt: now,
                expiresAt: now.addingTimeInterval(expires), state: admission.state,
                reason: admission.reason, updatedAt: now, createdBy: operatorName
            )
        }
        do {
            try await store.insertCommands(
                records, maxPendingPerAgent: settings.maxPendingCommandsPerAgent, audit: audit?(batchId, records)
            )
        } catch StoreError.tooManyPending(let limit, let counts) {
            throw Self.tooManyPending(limit: limit, counts: counts, targets: targets)
        }
        feed.bump()
        var byAgent: [String: [CommandRecord]] = [:]
        for record in records { byAgent[record.agentId, default: []].append(record) }
        // All sessions at once: each persists `sent` before it writes, and side by side those
        // writes share transactions (group commit). One after another, a fan-out to 10,000
        // agents waited for 10,000 commits in turn (35 s measured). Delivery is the agents' work
        // (`StoreLane`): a fan-out's thousands of `sent` writes in the operator's small pool would
        // keep every other operator call waiting behind them.
        let registry = self.registry
        await StoreLane.$current.withValue(.agents) {
            if clustered {
                await handOut(byAgent, batchId: batchId)
            } else {
                await withTaskGroup(of: Void.self) { group in
                    for (agentId, commands) in byAgent {
                        group.addTask { await registry.session(for: agentId).enqueue(commands, admission: admissions[agentId] ?? .queued) }
                    }
                }
            }
        }
        logger.info("batch \(batchId): \(records.count) command(s) queued by \(LogSafe.text(operatorName, limit: 64))")
        return (batchId, records, Dictionary(targets.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first }))
    }

    /// With other nodes: the commands of agents connected here go to their sessions; the others'
    /// nodes are told (one signal for the batch), and their sweep covers a lost signal.
    private func handOut(_ byAgent: [String: [CommandRecord]], batchId: String) async {
        let local = await registry.existingSessions(for: Array(byAgent.keys)).filter { $0.value.liveEpoch.value != nil }
        await withTaskGroup(of: Void.self) { group in
            for (agentId, session) in local {
                guard let commands = byAgent[agentId] else { continue }
                group.addTask { await session.enqueue(commands) }
            }
        }
        let elsewhere = byAgent.keys.filter { local[$0] == nil }.sorted()
        if !elsewhere.isEmpty { await registry.signals.publish(.work(agentIds: elsewhere, batchId: batchId)) }
    }

    /// Cancels a command: ends it at once if it was never delivered, else asks the agent to stop it.
    /// `audit` is stored with the state change when there is one, else on its own once the cancel is sent.
    func cancel(commandId: String, reason: String, now: Date = Date(), audit: AuditEntry? = nil) async throws -> CommandRecord {
        guard let record = try await store.command(id: commandId) else { throw RequestError(404, "command \(commandId) not found") }
        if record.state.isTerminal { throw RequestError(409, "command \(commandId) already ended: \(record.state.rawValue)") }
        let session = await registry.session(for: record.agentId)
        if record.state == .queued {
            let updated: CommandRecord?
            if let audit {
                updated = try await store.transition(commandId: commandId, to: .cancelled, reason: reason, now: now, audit: audit)
            } else {
                updated = try await store.transition(commandId: commandId, to: .cancelled, reason: reason, now: now)
            }
            if let updated {
                registry.metrics.commandEnded(.cancelled)
                await session.drop(commandId: commandId)
                feed.bump()
                return updated
            }
        }
        // Sent, delivered or running: only the agent knows whether it started; it answers with a result.
        // With other nodes, stored first: the holding node's sweep finds it if the signal is lost.
        if registry.clustered { try await store.requestCancel(commandId: commandId, reason: reason, now: now) }
        // Sending wakes the session's delivery, which may record other commands `sent`: the
        // agents' work (`StoreLane`), not the operator's small pool.
        await StoreLane.$current.withValue(.agents) { await session.sendCancel(commandId: commandId, reason: reason) }
        if registry.clustered, session.liveEpoch.value == nil {
            // Its connection may be on another node: that node sends the cancel.
            await registry.signals.publish(.cancel(commandId: commandId, agentId: record.agentId, reason: reason))
        }
        if let audit { try await store.appendAudit(audit) }
        return try await store.command(id: commandId) ?? record
    }

    /// Ends every undelivered command past its expiry (plus grace) with a reason that says why.
    func expireOverdue(now: Date = Date()) async {
        do {
            let overdue = try await store.commandsToExpire(now: now.addingTimeInterval(-settings.expiryGrace))
            for record in overdue {
                let session = await registry.session(for: record.agentId)
                let reason = await session.undeliveredReason(for: record, now: now)
                if try await store.transition(commandId: record.id, to: .expired, reason: reason, now: now) != nil {
                    registry.metrics.commandEnded(.expired)
                    await session.drop(commandId: record.id)
                    logger.notice("command \(record.id) expired: \(LogSafe.text(reason, limit: 400))")
                }
            }
            if !overdue.isEmpty { feed.bump() }
            // Delivered but never answered: the agent had to start it before expiry and stop it at its
            // timeout, so past both (plus slack for an agent that was offline) the result is declared lost.
            let silent = try await store.commandsOverdueForResult(now: now, slack: settings.resultSlack)
            for record in silent {
                let session = await registry.session(for: record.agentId)
                let where_ = await session.undeliveredReason(for: record, now: now)
                let reason = "no result from the agent within expiry + timeout + \(Int(settings.resultSlack)) s (\(where_)); a late result is logged, not applied"
                if try await store.transition(commandId: record.id, to: .timedOut, reason: reason, now: now) != nil {
                    registry.metrics.commandEnded(.timedOut)
                    logger.warning("command \(record.id) timed out waiting for its result")
                }
            }
            if !silent.isEmpty { feed.bump() }
        } catch {
            // A sweep the shutdown cancelled did not fail: it was stopped.
            if Task.isCancelled {
                logger.debug("expiry sweep stopped: \(error)")
            } else {
                logger.error("expiry sweep failed: \(error)")
            }
        }
    }

    /// An agent a command goes to.
    struct Target: Sendable {
        var id: String
        var name: String
    }

    private func resolveTargets(_ request: RunRequest) async throws -> [Target] {
        let wantsAll = request.all ?? false
        let names = request.agents ?? []
        if wantsAll && !names.isEmpty { throw RequestError(400, "give either agents or all, not both") }
        if wantsAll {
            // Ids and names only: loading every agent's whole row was most of a large fan-out's API time.
            let agents = try await store.liveAgentNames().map { Target(id: $0.id, name: $0.name) }
            if agents.isEmpty { throw RequestError(404, "no agents are enrolled yet") }
            return agents
        }
        if names.isEmpty { throw RequestError(400, "name at least one agent (id or name), or set all") }
        if names.count > settings.maxCommandsPerRequest { throw RequestError(400, "at most \(settings.maxCommandsPerRequest) agents per request") }
        for name in names { try RequestError.refuseNUL(name, in: "agent name") }
        // One read for the whole list: a request may name thousands of agents.
        let resolved: [Result<AgentRecord?, StoreError>]
        do {
            resolved = try await store.resolveAgents(names)
        } catch let error as StoreError {
            throw RequestError(409, error.description)
        }
        var seen = Set<String>()
        var out: [Target] = []
        for (name, result) in zip(names, resolved) {
            let agent: AgentRecord?
            switch result {
            case .success(let found): agent = found
            case .failure(let error): throw RequestError(409, error.description)
            }
            guard let agent else { throw RequestError(404, "no agent with id or name '\(name)'") }
            if agent.revokedAt != nil { throw RequestError(409, "agent '\(name)' is revoked") }
            if seen.insert(agent.id).inserted { out.append(Target(id: agent.id, name: agent.name)) }
        }
        return out
    }

    /// 429 naming up to five of the agents at the limit, fullest first.
    static func tooManyPending(limit: Int, counts: [String: Int], targets: [Target]) -> RequestError {
        let names = Dictionary(targets.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let full = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
        var listed = full.prefix(5).map { "\(names[$0.key] ?? $0.key) (\($0.value))" }.joined(separator: ", ")
        if full.count > 5 { listed += " and \(full.count - 5) more" }
        return RequestError(429, "nothing was queued: \(full.count) target agent(s) already have the maximum of \(limit) pending "
            + "(queued, sent, delivered or running) commands: \(listed). Wait for them to finish or cancel some "
            + "(the limit is gururmm server --max-pending-per-agent)")
    }

    static func payload(of request: RunRequest, maxScriptBytes: Int) throws -> (CommandSpec.Kind, String) {
        switch (request.command, request.script) {
        case (let command?, nil):
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else { throw RequestError(400, "command is empty") }
            guard command.utf8.count <= 1 << 20 else { throw RequestError(413, "command line is longer than 1 MiB; send it as a script") }
            return (.shell, command)
        case (nil, let script?):
            guard !script.isEmpty else { throw RequestError(400, "script is empty") }
            guard script.utf8.count <= maxScriptBytes else { throw RequestError(413, "script is \(script.utf8.count) bytes; the limit is \(maxScriptBytes)") }
            return (.script, script)
        case (nil, nil): throw RequestError(400, "give a command or a script")
        default: throw RequestError(400, "give a command or a script, not both")
        }
    }

    /// Refuses a command whose wire form would exceed what an agent accepts: it could never be delivered.
    static func checkWireSize(kind: CommandSpec.Kind, text: String, interpreter: String?) throws {
        guard let encoded = longestFrame(kind: kind, text: text, interpreter: interpreter) else {
            throw RequestError(400, "the command cannot be encoded")
        }
        guard encoded.count <= WireLimits.maxMessageBytes else {
            throw RequestError(413, "the command encodes to \(encoded.count) bytes on the wire; the limit is \(WireLimits.maxMessageBytes)")
        }
    }

    /// The frame of this command as long as it can become on the wire: a real id's length, a
    /// signature, an expiry, and numbers with every digit they may have.
    static func longestFrame(kind: CommandSpec.Kind, text: String, interpreter: String?) -> Data? {
        let probe = CommandSpec(
            commandId: newCommandId(at: Date()), kind: kind, text: text, interpreter: interpreter,
            timeoutSeconds: Double.pi * 1e5, expiresAt: Int(WireRange.maxUnixSeconds),
            signature: Data(repeating: 0xFF, count: 64).base64EncodedString()
        )
        return try? WireCodec().encode(Envelope(.command(probe), seq: .max, ack: .max))
    }

    /// A command id that sorts by creation time: `c_`, the milliseconds since 1970 (12 hex
    /// digits), then 64 random bits. The commands table and the history's index are keyed by it,
    /// so a fan-out's rows (and their later updates) land together at the end of each B-tree
    /// instead of on a random page each: a fraction of the pages to write per commit.
    static func newCommandId(at date: Date) -> String {
        let milliseconds = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down)))
        let time = String(milliseconds, radix: 16)
        return "c_" + String(repeating: "0", count: max(0, 12 - time.count)) + time + newId(prefix: "")
    }

    static func newId(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return prefix + Hex.encode(bytes)
    }

    static func sha256Hex(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)))
    }
}
