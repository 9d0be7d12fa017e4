import ArgumentParser
import Foundation

/// `gururmm bench`: starts a server and fleet simulators from this binary, runs every fleet-scale
/// measurement in one go and prints (and optionally writes) the table for BENCHMARKS.md.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure round trip, fan-out, throughput, idle cost and a reconnect storm against a local server and simulated fleet (or, with --console, --unauthenticated or --cluster, something else)."
    )

    @Option(name: .customLong("sizes"), help: "Fleet sizes for the fan-out, ascending, comma-separated.")
    var sizes: String = "1000,5000,10000,20000"

    @Option(name: .customLong("round-trips"), help: "Samples for each round-trip measurement.")
    var roundTrips: Int = 300

    @Option(name: .customLong("throughput-seconds"), help: "How long to run back-to-back fan-outs for throughput.")
    var throughputSeconds: Double = 20

    @Option(name: .customLong("idle-seconds"), help: "How long to watch the idle fleet's CPU (at least the ping interval, 60 s by default, to see every periodic duty once).")
    var idleSeconds: Double = 60

    @Option(name: .customLong("storm-size"), help: "Fleet size at which to restart the server (0: skip the storm).")
    var stormSize: Int = 10_000

    @Option(name: .customLong("operator-repeats"),
            help: "How many API fan-out and `run --all` pairs to time at each size, alternating which goes first (the operator path's figures are medians).")
    var operatorRepeats: Int = BenchRun.defaultOperatorRepeats

    @Option(name: .customLong("per-simulator"), help: "Most agents per simulator process (each needs one file descriptor per agent).")
    var perSimulator: Int = 10_000

    @Option(name: .customLong("work-dir"), help: "Where the server data and logs go: a new or empty directory (default: a new temporary directory).")
    var workDirectory: String?

    @Option(name: .customLong("out"), help: "Also write the table (Markdown) to this file.")
    var out: String?

    @Option(name: .customLong("compare-cli"),
            help: "Another gururmm binary (e.g. an older build) whose `run --all -- true` is timed beside this one's at each size.")
    var compareCLI: String?

    @Option(name: .customLong("unauthenticated"),
            help: "Instead of the fleet measurements: the server's memory with this many idle unauthenticated sockets (TCP only, and upgraded but silent WebSockets), with the global cap raised and at its default.")
    var unauthenticated: Int?

    @Option(name: .customLong("unauthenticated-hold"), help: "With --unauthenticated: seconds to hold the sockets before reading the server's memory.")
    var unauthenticatedHold: Double = 5

    @Option(name: .customLong("unauthenticated-settle"),
            help: "With --unauthenticated: seconds after the server closed the sockets before reading its memory again (its heap trimmer checks every 5 s).")
    var unauthenticatedSettle: Double = 12

    @Flag(name: .customLong("console"),
          help: "Instead of the fleet measurements: the web console with --agents (10,000) idle agents: the fleet page's time to first byte and whole body, and the idle server's CPU and memory with no console open and with --consoles open.")
    var console = false

    @Option(name: .customLong("consoles"), help: "With --console: consoles (login sessions, each holding one fleet event stream) open in the second window.")
    var consoles = 10

    @Option(name: .customLong("console-seconds"), help: "With --console: the length of each idle window.")
    var consoleSeconds: Double = 30

    @Option(name: .customLong("page-loads"), help: "With --console: fleet page loads timed (over HTTP, and again in Chromium).")
    var pageLoads = 20

    @Flag(inversion: .prefixedNo,
          help: "With --console: also load the fleet page in headless Chromium (chromium and chromedriver from PATH, or CHROMIUM and CHROMEDRIVER). Default: when both are found.")
    var chromium: Bool?

    @OptionGroup var cluster: ClusterBenchArguments

    func run() async throws {
        let clusterOptions = try cluster.enabled
            ? cluster.options(roundTrips: roundTrips, throughputSeconds: throughputSeconds, idleSeconds: idleSeconds, perSimulator: perSimulator) : nil
        let requested = try sizes.split(separator: ",").map { text -> Int in
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("--sizes: '\(text)' is not a positive number") }
            return n
        }.sorted()
        guard !requested.isEmpty else { throw ValidationError("--sizes needs at least one size") }
        guard (1...20).contains(operatorRepeats) else { throw ValidationError("--operator-repeats must be 1 to 20") }
        guard roundTrips >= 10, throughputSeconds > 0, idleSeconds > 0, perSimulator > 0 else {
            throw ValidationError("--round-trips must be at least 10; durations and --per-simulator positive")
        }
        if let unauthenticated, unauthenticated <= 0 { throw ValidationError("--unauthenticated must be positive") }
        guard unauthenticatedHold.isFinite, unauthenticatedSettle.isFinite, (0...3600).contains(unauthenticatedHold), (0...3600).contains(unauthenticatedSettle) else {
            throw ValidationError("--unauthenticated-hold and --unauthenticated-settle must be 0...3600 seconds")
        }
        let directory = try workDirectory ?? BenchRun.temporaryDirectory()
        // A used directory holds another run's agents and simulator identities: they would join
        // this fleet (offline ones stall the storm's batch) and the figures would be wrong.
        if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: directory), !leftovers.isEmpty {
            throw ValidationError("--work-dir \(directory) is not empty (it holds another run's server data or simulator identities); give a new or empty directory")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let clusterOptions {
            var bench = ClusterBench(directory: directory, options: clusterOptions, postgresBinaries: cluster.postgresBinaries)
            let report = try await bench.execute()
            print(report)
            if let out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
            return
        }
        if console {
            guard cluster.agents > 0, consoles > 0, pageLoads > 0, consoleSeconds.isFinite, (1...3600).contains(consoleSeconds) else {
                throw ValidationError("--agents, --consoles and --page-loads must be positive, --console-seconds 1...3600")
            }
            var bench = ConsoleBench(directory: directory, agents: cluster.agents, perSimulator: perSimulator, consoles: consoles,
                                     pageLoads: pageLoads, windowSeconds: consoleSeconds)
            switch (chromium, BenchWebDriver.Tools.find()) {
            case (false?, _): bench.chromiumSkipped = "--no-chromium"
            case (_, let tools?): bench.chromium = tools
            case (true?, nil): throw ValidationError("--chromium needs chromium and chromedriver on PATH (or CHROMIUM and CHROMEDRIVER naming them)")
            case (nil, nil): bench.chromiumSkipped = "chromium or chromedriver not found on PATH"
            }
            if bench.chromium == nil { FileHandle.standardError.write(Data("bench: Chromium skipped: \(bench.chromiumSkipped)\n".utf8)) }
            let report = try await bench.execute()
            print(report)
            if let out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
            return
        }
        if let unauthenticated {
            let bench = UnauthenticatedBench(count: unauthenticated, directory: directory, holdSeconds: unauthenticatedHold, settleSeconds: unauthenticatedSettle)
            let report = try await bench.execute()
            print(report)
            if let out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
            return
        }
        var run = BenchRun(directory: directory, sizes: requested, perSimulator: perSimulator, roundTrips: roundTrips,
                           throughputSeconds: throughputSeconds, idleSeconds: idleSeconds, stormSize: stormSize,
                           operatorRepeats: operatorRepeats, compareCLI: compareCLI)
        let report = try await run.execute()
        print(report)
        if let out { try report.write(toFile: out, atomically: true, encoding: .utf8) }
    }
}
