/// Whose work a store call does, so a store with separate connection pools can keep the operator's
/// calls out of the agents' queue (`PostgresStore`; `SQLiteStore` ignores it).
public enum StoreLane: Sendable, Equatable {
    /// Agents' sessions, enrollments, timers and everything else the server does by itself.
    case agents
    /// Calls made for the operator API: a small pool of their own, so an operator sees and acts on
    /// the fleet while thousands of agents' calls wait in theirs.
    case `operator`

    /// The lane of the store calls the current task makes (child tasks and `Task {}` inherit it).
    @TaskLocal public static var current: StoreLane = .agents
}
