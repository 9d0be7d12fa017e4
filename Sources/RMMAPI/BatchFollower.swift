import Foundation
import RMMProtocol

/// Follows one batch over the streamed batch routes: a bounded number of requests whatever the
/// batch's size (one per 25 s of waiting, plus one for the results).
public struct BatchFollower: Sendable {
    public let client: GuruAPIClient
    public let batchId: String
    /// Seconds each events request may wait for changes: a stream stays silent at most this long,
    /// well under the idle read timeouts of the proxies operators put in front of the API
    /// (nginx's `proxy_read_timeout` defaults to 60 s, Cloudflare's to 100 s).
    public static let wait = 25
    /// Seconds without a byte before a streamed answer counts as lost: the server writes the
    /// end line when its wait is over.
    public static let idle = 55.0
    /// An events answer that ends sooner than this with nothing new is followed by this pause.
    public static let quickEnd = Duration.seconds(1)

    public init(client: GuruAPIClient, batchId: String) {
        self.client = client
        self.batchId = batchId
    }

    /// Streams the batch's changes until it is done; `onOutput` gets each piece of output (with
    /// `output`; named by its agent) as it is stored, and `drained` is called when what has
    /// arrived is all handed over. Returns the last state of every command that ended.
    ///
    /// Asks for the compact lines (`view=compact`): a console needs five of a command's fields,
    /// and at 10,000 agents writing and reading the other twelve was a third of the stream's cost.
    /// Full `command` lines are taken too, as a server that ignores `view` writes them.
    ///
    /// With `everyState`, the stream carries each command's intermediate states too (`sent`,
    /// `delivered`, `running`) and `onCommand` gets every state line: what a progress display
    /// counts. Without it only ended commands are asked for, a quarter of the lines.
    public func follow(
        output: Bool, everyState: Bool = false, drained: () -> Void = {}, onCommand: (CommandBrief) -> Void = { _ in },
        onOutput: (OutputView) -> Void
    ) async throws -> [String: CommandBrief] {
        var after = 0
        var finals: [String: CommandBrief] = [:]
        let clock = ContinuousClock()
        while true {
            let asked = clock.now
            var end: BatchStreamEnd?
            try await client.streamLines(
                "/api/v1/batches/\(GuruAPIClient.pathSegment(batchId))/events?after=\(after)&wait=\(Self.wait)&output=\(output)&terminal=\(!everyState)&view=compact",
                as: BatchStreamLine.self, idleTimeout: Self.idle, fastDecode: BatchLineCodec.decode, drained: drained
            ) { line in
                if let brief = line.brief ?? line.command.map(CommandBrief.init) {
                    if brief.state.isTerminal { finals[brief.id] = brief }
                    onCommand(brief)
                }
                if let chunk = line.output { onOutput(chunk) }
                if let last = line.end { end = last }
            }
            guard let end else { throw GuruAPIError(status: 0, message: "the API's change stream for batch \(batchId) ended without its end line") }
            if end.done { return finals }
            // A stream that ended early with nothing new (a server shutting down answers at once)
            // is asked again after a pause, not in a tight loop.
            if end.version <= after && clock.now - asked < Self.quickEnd { try await Task.sleep(for: Self.quickEnd) }
            after = max(after, end.version)
        }
    }

    /// Streams every command of the batch in creation order with its whole output.
    public func results(_ each: (CommandView) throws -> Void) async throws {
        var ended = false
        try await client.streamLines(
            "/api/v1/batches/\(GuruAPIClient.pathSegment(batchId))/results", as: BatchStreamLine.self, idleTimeout: Self.idle, fastDecode: BatchLineCodec.decode
        ) { line in
            if let view = line.command { try each(view) }
            if line.end != nil { ended = true }
        }
        guard ended else { throw GuruAPIError(status: 0, message: "the API's results for batch \(batchId) ended without their end line") }
    }
}
