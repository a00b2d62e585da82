import Logging
import ServiceLifecycle

/// Runs `Gateway.reconcile` at start-up (claims left `settling` by a stopped process become `unknown` and
/// are resolved before traffic arrives) and then every `interval`. Each pass takes the next page of unresolved
/// intents, and the pass after the last page starts again from the oldest: every intent is looked at in turn.
///
/// Each pass runs through `jobs`: on a store shared by several instances only one of them reconciles at a time
/// (the others skip that pass), so two instances never ask a facilitator about the same claim at once.
public struct SettlementReconciler: Service {
    /// The name the pass is run under in `ExclusiveJobs`.
    public static let jobName = "settlement-reconciler"

    let gateway: Gateway
    let interval: Duration
    let pageSize: Int
    let jobs: any ExclusiveJobs
    let logger: Logger

    /// `pageSize`: the intents one pass looks at.
    public init(gateway: Gateway, interval: Duration = .seconds(30), pageSize: Int = 200, jobs: any ExclusiveJobs = LocalJobs(), logger: Logger) {
        self.gateway = gateway
        self.interval = interval
        self.pageSize = max(1, pageSize)
        self.jobs = jobs
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await loop() }
    }

    private func loop() async throws {
        var startup = true
        var cursor: SettlementCursor?
        while !Task.isCancelled {
            do {
                let gateway = self.gateway, first = startup, after = cursor, limit = pageSize
                if let report = try await jobs.exclusively(Self.jobName, { try await gateway.reconcile(startup: first, limit: limit, after: after) }) {
                    startup = false
                    cursor = report.next
                    log(report)
                } else {
                    logger.debug("another instance is reconciling; this pass is skipped")
                }
            } catch {
                logger.warning("reconciliation failed", metadata: ["tollgate.error": "\(error)"])
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    private func log(_ report: ReconcileReport) {
        let changed = report.abandoned.count + report.settled.count + report.failed.count + report.refunded.count + report.review.count
        guard changed > 0 || !report.stillUnknown.isEmpty else { return }
        logger.notice("settlements reconciled", metadata: [
            "tollgate.abandoned": "\(report.abandoned.count)", "tollgate.settled": "\(report.settled.count)",
            "tollgate.failed": "\(report.failed.count)", "tollgate.unknown": "\(report.stillUnknown.count)",
            "tollgate.refunded": "\(report.refunded.count)", "tollgate.review": "\(report.review.count)",
        ])
    }
}
