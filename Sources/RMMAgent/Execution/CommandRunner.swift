import Foundation
import RMMProtocol
import Subprocess

/// Runs one command to its end: spawn, stream output, enforce the timeout, honour stop requests.
///
/// Every path ends in a `CommandResult`; nothing here throws, because a command that cannot even
/// start is still a command with a terminal state (principle 1).
struct CommandRunner: Sendable {
    let spec: CommandSpec
    let limits: ExecutorLimits
    let platform: any CommandPlatform
    let stop: StopSwitch
    let emit: @Sendable (ExecutionEvent) -> Void

    /// Shell command lines longer than this run from a script file instead: Linux refuses a single
    /// argument over 128 KiB (MAX_ARG_STRLEN), and a file has no such limit.
    static let longCommandLine = 100_000
    /// How long a stopped group gets between SIGTERM and SIGKILL.
    static let killGrace: Duration = .seconds(2)

    /// `@concurrent`: writing a multi-MiB script and spawning must never run on the executor actor,
    /// whatever the module's default isolation for async functions becomes.
    @concurrent
    func run() async -> CommandResult {
        var script: ScriptFile?
        defer { script?.remove() }
        let invocation: ProcessInvocation
        do throws(PreparationFailure) {
            if spec.kind == .shell && spec.text.utf8.count <= Self.longCommandLine {
                invocation = platform.shellInvocation(commandLine: spec.text)
            } else {
                let file = try ScriptFile.create(body: spec.text, fileExtension: platform.scriptFileExtension)
                script = file
                let interpreter = spec.kind == .script ? (spec.interpreter ?? platform.defaultInterpreter) : platform.defaultInterpreter
                invocation = platform.scriptInvocation(interpreter: interpreter, scriptPath: file.path)
            }
        } catch {
            stop.markDone()
            return failure("could not prepare the script: \(error)")
        }
        return await supervise(invocation)
    }

    /// Runs the process next to a timer and a kill escalator; whichever ends first, the process decides the result.
    private func supervise(_ invocation: ProcessInvocation) async -> CommandResult {
        let timeout = spec.timeoutSeconds
        let stop = self.stop
        return await withTaskGroup(of: CommandResult?.self) { group in
            group.addTask { await self.execute(invocation) }
            group.addTask {
                // Clamped: Duration overflows for absurd values, and no command needs more than ~30 years.
                try? await Task.sleep(for: .seconds(min(timeout, 1e9)))
                if !Task.isCancelled { stop.request(.timedOut) }
                return nil
            }
            group.addTask {
                for await _ in stop.requests {
                    try? await Task.sleep(for: Self.killGrace)
                    if !Task.isCancelled { stop.killIfStopping() }
                    break
                }
                return nil
            }
            var outcome: CommandResult?
            for await result in group {
                if let result {
                    outcome = result
                    group.cancelAll()  // the process is gone: stop the timer and the escalator
                }
            }
            return outcome ?? failure("internal error: the command produced no result")
        }
    }

    /// What the process body hands back once both pipes are drained.
    private struct Captured: Sendable {
        var stdout: OutputCollector
        var stderr: OutputCollector
        var startedAt: Double
    }

    private func execute(_ invocation: ProcessInvocation) async -> CommandResult {
        let environment: Environment
        do throws(PreparationFailure) {
            environment = try makeEnvironment()
        } catch {
            stop.markDone()
            return failure(error.description)
        }
        let executable: Executable = invocation.executable.contains("/") ? .path(.init(invocation.executable)) : .name(invocation.executable)
        do {
            let outcome = try await Subprocess.run(
                executable, arguments: Arguments(invocation.arguments), environment: environment,
                platformOptions: platform.spawnOptions(), input: .none, output: .sequence, error: .sequence
            ) { execution in
                let pid = execution.processIdentifier.value
                let startedAt = ExecutionClock.unixSeconds()
                stop.attach(leader: pid)
                emit(.started(commandId: spec.commandId, pid: pid, time: startedAt))
                async let out = pump(execution.standardOutput, .stdout)
                async let err = pump(execution.standardError, .stderr)
                let captured = Captured(stdout: await out, stderr: await err, startedAt: startedAt)
                // The leader is not reaped before this body returns, so its group id is still ours.
                stop.killIfStopping()
                return captured
            }
            let cause = stop.markDone()
            return result(outcome.terminationStatus, outcome.closureResult, cause: cause)
        } catch {
            stop.markDone()
            return failure("could not start \(invocation.executable): \(error)")
        }
    }

    private func makeEnvironment() throws(PreparationFailure) -> Environment {
        var updates: [Environment.Key: String?] = [:]
        for (name, value) in limits.environment {
            guard let key = Environment.Key(rawValue: name) else {
                throw PreparationFailure(description: "invalid environment variable name \"\(name)\"")
            }
            updates[key] = value
        }
        return Environment.inherit.updating(updates)
    }

    /// Reads one pipe to its end, publishing what fits under the cap as it arrives.
    private func pump(_ sequence: SubprocessOutputSequence, _ stream: StdStream) async -> OutputCollector {
        var collector = OutputCollector(commandId: spec.commandId, stream: stream, cap: limits.outputCapBytes, chunkBytes: limits.outputChunkBytes)
        do {
            for try await buffer in sequence {
                let bytes = buffer.withUnsafeBytes { Data($0) }
                for chunk in collector.append(bytes) { emit(.output(chunk)) }
            }
        } catch {
            // A read error ends this stream only; the exit status still decides the result.
        }
        return collector
    }

    private func result(_ status: TerminationStatus, _ captured: Captured, cause: StopCause?) -> CommandResult {
        var result = CommandResult(
            commandId: spec.commandId, status: .succeeded, stdout: captured.stdout.kept, stderr: captured.stderr.kept,
            stdoutTruncated: captured.stdout.truncated, stderrTruncated: captured.stderr.truncated,
            startedAt: captured.startedAt, finishedAt: ExecutionClock.unixSeconds()
        )
        switch status {
        case .exited(let code):
            result.exitCode = code
            if code != 0 {
                result.status = .failed
                result.reason = "exited with code \(code)"
            }
        case .signaled(let signal):
            result.signal = signal
            result.status = .failed
            result.reason = "killed by signal \(signal)"
        }
        // A stop request outranks how the process happened to die: it died because we killed it.
        switch cause {
        case .timedOut?:
            result.status = .timedOut
            result.reason = "timed out after \(Self.seconds(spec.timeoutSeconds)) s; process group killed"
        case .cancelled(let reason)?:
            result.status = .cancelled
            result.reason = reason
        case .shutdown?:
            result.status = .interrupted
            result.reason = "agent shut down while the command was running; process group killed"
        case nil:
            break
        }
        return result
    }

    private func failure(_ reason: String) -> CommandResult {
        CommandResult(commandId: spec.commandId, status: .failed, reason: reason, finishedAt: ExecutionClock.unixSeconds())
    }

    /// "5" rather than "5.0" for whole seconds.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
