import Foundation
import RMMAPI
import RMMServer

/// One benchmark run: sets up the server and the growing simulated fleet, measures, tears down,
/// and renders the results.
struct BenchRun {
    let directory: String
    let sizes: [Int]
    let perSimulator: Int
    let roundTrips: Int
    let throughputSeconds: Double
    let idleSeconds: Double
    let stormSize: Int
    /// API fan-outs and `run --all` processes at each size, alternately: one pair moves ±20 %.
    let operatorRepeats: Int
    /// Four pairs: two in each order (API first, CLI first).
    static let defaultOperatorRepeats = 4
    /// Another gururmm binary whose `run --all` is timed beside this one's (e.g. an older build).
    let compareCLI: String?

    init(directory: String, sizes: [Int], perSimulator: Int, roundTrips: Int, throughputSeconds: Double, idleSeconds: Double, stormSize: Int,
         operatorRepeats: Int = BenchRun.defaultOperatorRepeats, compareCLI: String? = nil) {
        self.operatorRepeats = operatorRepeats
        self.compareCLI = compareCLI
        self.directory = directory
        self.sizes = sizes
        self.perSimulator = perSimulator
        self.roundTrips = roundTrips
        self.throughputSeconds = throughputSeconds
        self.idleSeconds = idleSeconds
        self.stormSize = stormSize
    }

    private var results = BenchResults()
    private var simulators: [BenchChild] = []

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "gururmm-bench-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs everything; always stops what it started.
    mutating func execute() async throws -> String {
        results.machine = BenchMachine.describe()
        results.directory = directory
        note("bare WebSocket echo")
        results.echo = try await BenchMeasurements.echoRoundTrips(count: roundTrips)
        note("disk sync latency")
        results.sync = try BenchMeasurements.syncLatency(directory: directory, count: roundTrips)
        note("batch stream lines: Foundation and the fast path")
        results.lineCodec = try LineCodecCost.measure(agents: 10_000)
        let server = try await BenchServer(directory: directory)
        do {
            try await measure(server)
        } catch {
            for simulator in simulators { await simulator.stop() }
            await server.child.stop()
            throw BenchError("\(error)\n(server and simulator logs in \(directory))")
        }
        for simulator in simulators { await simulator.stop() }
        await server.child.stop()
        return results.render()
    }

    private mutating func measure(_ server: BenchServer) async throws {
        try await Task.sleep(for: .seconds(1))
        let baseline = server.stats()
        results.baselineBytes = baseline?.residentBytes
        let capacity = FileLimit.raise().agentCapacity
        let limit = Int(min(UInt64(Int.max), capacity > 200 ? capacity - 200 : 0))
        let token = try await server.api.createEnrollmentToken(expiresSeconds: 86_400, uses: 100_000)
        guard let enrollToken = token.token else { throw BenchError("the server returned no enrollment token") }
        var fleet = 0
        for requested in sizes {
            let size = min(requested, limit)
            if size < requested { results.notes.append("fleet size \(requested) capped at \(size): this machine's hard open-file limit allows about \(capacity) connections per process") }
            guard size > fleet else { continue }
            note("growing the fleet to \(size)")
            let clock = ContinuousClock()
            let started = clock.now
            try grow(from: fleet, to: size, server: server, token: enrollToken)
            fleet = size
            try await benchWait("\(size) agents online", timeout: 600, every: 0.5) {
                try await server.fleet().online >= size
            }
            results.onlineSeconds[size] = (clock.now - started).seconds
            if results.command == nil {
                let agents = try await server.api.agents()
                guard let target = agents.first(where: { $0.status == .online }) else { throw BenchError("no online agent") }
                note("command round trips to \(target.name)")
                results.command = try await BenchMeasurements.commandRoundTrips(server, agent: target.id, count: roundTrips)
            }
            note("fan-out to \(size)")
            let (seconds, summary, batch) = try await BenchMeasurements.fanOut(server)
            results.fanOut.append(.init(agents: size, requested: requested, seconds: seconds, succeeded: summary.states["succeeded"] ?? 0))
            try await operatorPath(server, size: size, apiSeconds: seconds, batch: batch)
            if size == min(stormSize, limit), stormSize > 0 {
                try await storm(server, size: size)
            }
        }
        note("idle fleet of \(fleet) for \(Int(idleSeconds)) s")
        let before = server.stats()
        try await Task.sleep(for: .milliseconds(Int(idleSeconds * 1000)))
        let after = server.stats()
        if let before, let after, let baseline {
            results.idle = .init(agents: fleet, bytesPerAgent: Double(after.residentBytes - baseline.residentBytes) / Double(fleet),
                                 cpuPercent: (after.cpuSeconds - before.cpuSeconds) / idleSeconds * 100, residentBytes: after.residentBytes)
        }
        note("throughput with \(fleet) agents for \(Int(throughputSeconds)) s")
        // CPU time per command of the server and of the simulators, over the same window: steadier
        // than the rate, which moves with whatever else the two share the machine with.
        let serverBefore = server.stats()?.cpuSeconds, simulatorsBefore = simulatorCPUSeconds()
        let throughput = try await BenchMeasurements.throughput(server, seconds: throughputSeconds, inFlight: 2)
        let serverAfter = server.stats()?.cpuSeconds, simulatorsAfter = simulatorCPUSeconds()
        func perCommand(_ before: Double?, _ after: Double?) -> Double? {
            guard let before, let after, throughput.commands > 0 else { return nil }
            return (after - before) / Double(throughput.commands)
        }
        results.throughput = .init(perSecond: throughput.perSecond, commands: throughput.commands, failed: throughput.failed, agents: fleet,
                                   serverCPUPerCommand: perCommand(serverBefore, serverAfter),
                                   simulatorCPUPerCommand: perCommand(simulatorsBefore, simulatorsAfter))
    }

    /// The same fan-out as an operator runs it: a `gururmm run --all -- true` process (and the
    /// compared binary's, if any), each timed from spawn to exit, after each of `operatorRepeats`
    /// API fan-outs (the first is the fan-out row's), so each pair shares the fleet's state.
    /// The old path's extra cost is measured too: the per-command GETs it made after the batch.
    private mutating func operatorPath(_ server: BenchServer, size: Int, apiSeconds: Double, batch: RunResponse) async throws {
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        var pairs: [(api: Double, cli: Double)] = []
        var status: Int32 = 0
        // The server's CPU seconds over each API fan-out after the first, and over each CLI run.
        var apiCPU: [Double] = [], cliCPU: [Double] = []
        func serverCPU() -> Double { server.stats()?.cpuSeconds ?? .nan }
        func apiFanOut(_ round: Int) async throws -> Double {
            note("operator path: API fan-out to \(size), \(round) of \(operatorRepeats)")
            let before = serverCPU()
            let seconds = try await BenchMeasurements.fanOut(server).seconds
            apiCPU.append(serverCPU() - before)
            return seconds
        }
        func cliRun(_ round: Int) async throws -> Double {
            note("operator path: run --all to \(size), \(round) of \(operatorRepeats)")
            let before = serverCPU()
            let cli = try await OperatorPath.timedRun(executable: own, api: server.api.base, token: server.api.token,
                                                      logPath: directory + "/run-all-\(size)-\(round).log", timeout: 300)
            cliCPU.append(serverCPU() - before)
            if cli.status != 0 { status = cli.status }
            return cli.seconds
        }
        // Each later pair in the other order: a fan-out right after another one runs on a fleet and
        // a store still settling from it, which must not count against one side only.
        for round in 1...operatorRepeats {
            if round == 1 {
                pairs.append((apiSeconds, try await cliRun(round)))
            } else if round % 2 == 0 {
                let cli = try await cliRun(round)
                pairs.append((try await apiFanOut(round), cli))
            } else {
                let api = try await apiFanOut(round)
                pairs.append((api, try await cliRun(round)))
            }
        }
        note("operator path: \(batch.commands.count) per-command GETs")
        let fetches = try await BenchMeasurements.perCommandFetches(server, batch)
        var row = BenchResults.Operator(agents: size, apiSeconds: median(pairs.map(\.api)), cliSeconds: median(pairs.map(\.cli)),
                                        cliStatus: status, perCommandSeconds: fetches, added: pairs.map { $0.cli - $0.api },
                                        serverCPUOverAPI: apiCPU.isEmpty ? nil : median(apiCPU), serverCPUOverCLI: median(cliCPU))
        if let compareCLI {
            note("operator path: \(compareCLI) run --all to \(size)")
            let old = try await OperatorPath.timedRun(executable: compareCLI, api: server.api.base, token: server.api.token,
                                                      logPath: directory + "/run-all-compared-\(size).log", timeout: 300)
            row.oldCliSeconds = old.seconds
            row.oldCliStatus = old.status
        }
        results.operatorPath.append(row)
    }

    /// CPU seconds used so far by every simulator process, or nil if one cannot be read.
    private func simulatorCPUSeconds() -> Double? {
        var total = 0.0
        for simulator in simulators {
            guard let stats = ProcessStats.read(pid: simulator.pid) else { return nil }
            total += stats.cpuSeconds
        }
        return total
    }

    /// Adds simulator processes until `to` agents run, each with at most `perSimulator` agents.
    private mutating func grow(from: Int, to: Int, server: BenchServer, token: String) throws {
        try Self.addSimulators(from: from, to: to, perSimulator: perSimulator, server: server, token: token, directory: directory, into: &simulators)
    }

    /// Appends `fleet-sim` processes to `simulators` until `to` agents run (`from` already do), each
    /// with at most `perSimulator` agents enrolling with `token`, identities in the work directory's `sim-<index>`.
    static func addSimulators(from: Int, to: Int, perSimulator: Int, server: BenchServer, token: String, directory: String,
                              into simulators: inout [BenchChild]) throws {
        var count = from
        while count < to {
            let size = min(perSimulator, to - count)
            let index = simulators.count + 1
            simulators.append(try BenchChild(name: "fleet-sim-\(index)", arguments: [
                "fleet-sim", "--server", server.ready.agentUrl, "--allow-plain", "--agents", String(size),
                "--enroll-token", token, "--state-dir", directory + "/sim-\(index)", "--name-prefix", "sim\(index)-",
                "--log-level", "warning", "--json", "--status-interval", "2",
            ], logPath: directory + "/sim-\(index).log"))
            count += size
        }
    }

    /// Queues one command to every agent, SIGKILLs the server at once and starts it again: how long
    /// until the whole fleet is back, and whether every queued command ran exactly once.
    private mutating func storm(_ server: BenchServer, size: Int) async throws {
        note("reconnect storm with \(size) agents")
        let batch = try await server.api.run(RunRequest(agents: nil, all: true, command: "true", script: nil, interpreter: nil, timeoutSeconds: 60, expiresSeconds: 300))
        let clock = ContinuousClock()
        let killed = clock.now
        try await server.crashAndRestart()
        let restarted = clock.now
        try await benchWait("\(size) agents back after the restart", timeout: 300, every: 0.5) {
            try await server.fleet().online >= size
        }
        let back = clock.now
        let summary = try await server.api.awaitBatch(batch.batchId, timeout: 300)
        let done = clock.now
        results.storm = .init(
            agents: size, restartSeconds: (restarted - killed).seconds, backSeconds: (back - killed).seconds,
            doneSeconds: (done - killed).seconds, queued: summary.total, succeeded: summary.states["succeeded"] ?? 0,
            duplicateRuns: simulators.map { BenchSimulatorStats.latest(in: $0.log)?.duplicates ?? 0 }.reduce(0, +)
        )
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
    }
}

/// The middle value (the mean of the middle two for an even count); 0 for none.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

extension BenchRun {
    /// Raises this process's open-file limit as a server does (its children inherit it); the soft limit reached.
    static func raiseOpenFileLimit() -> Int { FileLimit.raise().after }
}
