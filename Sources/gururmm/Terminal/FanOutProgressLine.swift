import Dispatch
import Foundation
import RMMAPI
import RMMProtocol
import Synchronization

/// Draws a fan-out's progress on the terminal standard output is, rewritten in place (`\r` and
/// erase-line), and keeps it out of the way of everything else written: output goes out with the
/// line erased before and drawn again after, and `finish` erases it for good.
final class FanOutProgressLine: Sendable {
    private struct State {
        var tally: FanOutTally
        var throttle = ProgressThrottle()
    }

    /// Carriage return and erase the whole line: leaves the cursor at the start of a blank line.
    static let erase = "\r\u{1B}[2K"
    private let state: Mutex<State>

    /// A progress line when standard output is a terminal and `wanted`; nil otherwise, so that
    /// nothing of it reaches a file, a pipe or a JSON reader.
    static func onTerminal(wanted: Bool, total: Int) -> FanOutProgressLine? {
        guard wanted, isatty(STDOUT_FILENO) == 1 else { return nil }
        return FanOutProgressLine(total: total)
    }

    private init(total: Int) {
        state = Mutex(State(tally: FanOutTally(total: total)))
    }

    /// Counts a command's new state (drawn by the next `tick`).
    func record(_ brief: CommandBrief) {
        state.withLock { $0.tally.record(command: brief.id, state: brief.state) }
    }

    /// Draws the line if it changed and the last draw is old enough.
    func tick(now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            state.throttle.update(state.tally.counts.line)
            if let text = state.throttle.draw(now: now) { Self.write(Self.erase + text) }
        }
    }

    /// Writes `data` to `stream` with the line erased first and put back after.
    func write(_ stream: StdStream, _ data: Data) {
        state.withLock { state in
            guard let shown = state.throttle.shown else { return LivePrinter.standardStreams(stream, data) }
            Self.write(Self.erase)
            LivePrinter.standardStreams(stream, data)
            Self.write(shown)
        }
    }

    /// Erases the line for good; later ticks draw nothing.
    func finish() {
        state.withLock { state in
            if state.throttle.finish() { Self.write(Self.erase) }
        }
    }

    /// Runs `body` with the line drawn ten times a second and erased when it ends, however it
    /// ends; a SIGINT meanwhile erases it before the process exits (130, as the shell's default).
    func showing<T>(_ body: () async throws -> T) async throws -> T {
        tick()
        let ticker = Task { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: ProgressThrottle.interval)
                tick()
            }
        }
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { [self] in
            finish()
            exit(130)
        }
        interrupt.resume()
        defer {
            ticker.cancel()
            interrupt.cancel()
            signal(SIGINT, SIG_DFL)
            finish()
        }
        return try await body()
    }

    private static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
