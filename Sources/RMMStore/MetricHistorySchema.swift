/// The `agent_metric_history` table, the same on both backends but for its blob and time types.
/// One row per agent, replaced whole at each save (see `MetricHistoryStore`); `store migrate`
/// copies it (`MigratedTables`), so the charts go on after a move to PostgreSQL.
enum MetricHistorySchema {
    static func create(blob: String, double: String) -> String {
        """
        CREATE TABLE agent_metric_history (
            agent_id TEXT PRIMARY KEY NOT NULL,
            history \(blob) NOT NULL,
            saved_at \(double) NOT NULL
        )
        """
    }
}
