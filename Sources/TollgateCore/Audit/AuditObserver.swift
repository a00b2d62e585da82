/// Sees the audit events a store has committed (metrics, for one). `ObservedStore` calls it after each
/// successful write, on the writing task: it must be cheap and must never block or throw.
public protocol AuditObserver: Sendable {
    func observe(_ events: [AuditEvent])
    /// After each flush of the `AuditBatcher`: how many unpaid-path events are held in memory, and how many it
    /// refused since the last report because its backlog was full (the store refusing writes).
    func auditBacklog(waiting: Int, refused: Int)
}

extension AuditObserver {
    public func auditBacklog(waiting: Int, refused: Int) {}
}
