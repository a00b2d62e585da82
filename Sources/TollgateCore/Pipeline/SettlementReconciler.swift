import Logging
import ServiceLifecycle

/// Runs `Gateway.reconcile` at start-up (claims left `settling` by a stopped process become `unknown` and
/// are resolved before traffic arrives) and then every `interval`.
public struct SettlementReconciler: Service {
    let gateway: Gateway
    let interval: Duration
    let logger: Logger

    public init(gateway: Gateway, interval: Duration = .seconds(30), logger: Logger) {
        self.gateway = gateway
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await loop() }
    }

    private func loop() async throws {
        var startup = true
        while !Task.isCancelled {
            do {
                let report = try await gateway.reconcile(startup: startup)
                startup = false
                let changed = report.abandoned.count + report.settled.count + report.failed.count + report.refunded.count + report.review.count
                if changed > 0 || !report.stillUnknown.isEmpty {
                    logger.notice("settlements reconciled", metadata: [
                        "tollgate.abandoned": "\(report.abandoned.count)", "tollgate.settled": "\(report.settled.count)",
                        "tollgate.failed": "\(report.failed.count)", "tollgate.unknown": "\(report.stillUnknown.count)",
                        "tollgate.refunded": "\(report.refunded.count)", "tollgate.review": "\(report.review.count)",
                    ])
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
}
