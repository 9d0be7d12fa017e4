import Foundation
import Synchronization

/// A child process on a pseudo-terminal of its own, for tests of what a program draws on a
/// terminal: its standard streams are the terminal (so `isatty` is true and Ctrl-C typed on it
/// reaches it as SIGINT), and every byte it writes is recorded as the terminal received it.
public final class TerminalProcess: Sendable {
    /// The child (its exit status, signals, kill on deinit).
    public let process: ManagedProcess
    private let master: Int32
    /// The bytes read, and whether the reader closed the master (the child's side closed).
    private let recorded: Recording

    /// Starts `executable` with `arguments` on a new terminal of `columns` x `rows`.
    public static func start(
        _ executable: String, arguments: [String] = [], environment: [String: String] = [:], columns: UInt16 = 120, rows: UInt16 = 40
    ) throws -> TerminalProcess {
        var master: Int32 = -1
        var slave: Int32 = -1
        var name = [CChar](repeating: 0, count: 256)
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        guard let openpty = openPTY, openpty(&master, &slave, &name, nil, &size) == 0 else {
            throw TerminalProcessError("cannot open a pseudo-terminal (errno \(errno))")
        }
        // The child opens the terminal by name (making it its controlling terminal); this end
        // closes at once so that reading the master ends when the child's side closes.
        defer { close(slave) }
        let process: ManagedProcess
        do {
            process = try ManagedProcess.start(
                executable, arguments: arguments, environment: environment, inheritEnvironment: true, logPath: nil, standardInput: nil,
                terminal: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            )
        } catch {
            close(master)
            throw error
        }
        let recorded = Recording()
        // The reader holds only the descriptor and the record, never this object: a test that
        // drops it kills the child (below), which ends the reader.
        let descriptor = master
        Thread { recorded.drain(descriptor) }.start()
        return TerminalProcess(process: process, master: descriptor, recorded: recorded)
    }

    private init(process: ManagedProcess, master: Int32, recorded: Recording) {
        self.process = process
        self.master = master
        self.recorded = recorded
    }

    deinit {
        if process.isRunning { kill(-process.pid, SIGKILL) }
    }

    /// Everything the child wrote to the terminal so far (the terminal turns `\n` into `\r\n`).
    public var output: [UInt8] { recorded.state.withLock { $0.bytes } }

    /// `output` as text (invalid UTF-8 as U+FFFD).
    public var text: String { String(decoding: output, as: UTF8.self) }

    /// Whether the child's side of the terminal has closed (it exited) and all its bytes are read.
    public var ended: Bool { recorded.state.withLock { $0.ended } }

    /// Types `bytes` on the terminal, as a user would: `[0x03]` is Ctrl-C.
    public func type(_ bytes: [UInt8]) {
        recorded.state.withLock { state in
            guard !state.ended else { return }
            bytes.withUnsafeBytes { _ = write(master, $0.baseAddress, $0.count) }
        }
    }

    /// Waits for the child to exit and for its last bytes to be read; returns its exit code.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        let code = try await process.waitForExit(timeout: timeout)
        try await waitUntil("the terminal of \(process.executable) has no more output", timeout: .seconds(10)) { self.ended }
        return code
    }
}

/// What the reader thread has read from a terminal's master side.
private final class Recording: Sendable {
    let state = Mutex<(bytes: [UInt8], ended: Bool)>(([], false))

    /// Reads `master` until the child's side is closed, then closes it.
    func drain(_ master: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if count > 0 {
                state.withLock { $0.bytes.append(contentsOf: buffer[0..<count]) }
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                // EIO: every descriptor of the child's side is closed.
                state.withLock { state in
                    state.ended = true
                    close(master)
                }
                return
            }
        }
    }
}

/// Why a pseudo-terminal could not be set up.
public struct TerminalProcessError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// glibc's `openpty` (in libc since 2.34), looked up at run time because the Swift Glibc module
/// does not export it.
private typealias OpenPTY = @convention(c) (
    UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<CChar>?, UnsafeRawPointer?, UnsafeRawPointer?
) -> Int32

private let openPTY: OpenPTY? = dlsym(nil, "openpty").map { unsafeBitCast($0, to: OpenPTY.self) }
