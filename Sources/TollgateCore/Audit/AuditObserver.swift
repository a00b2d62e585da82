/// Sees the audit events a store has committed (metrics, for one). `ObservedStore` calls it after each
/// successful write, on the writing task: it must be cheap and must never block or throw.
public protocol AuditObserver: Sendable {
    func observe(_ events: [AuditEvent])
}
