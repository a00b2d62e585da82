import Logging
import ServiceLifecycle

/// Deletes reservations of proofs that can no longer be presented (their `validBefore` plus a margin
/// has passed), so the reservation table stays bounded. Settled and in-doubt claims are kept.
public struct ReservationJanitor: Service {
    let store: any TollgateStore
    let clock: any GatewayClock
    let margin: Int64
    let interval: Duration
    let logger: Logger

    public init(store: any TollgateStore, clock: any GatewayClock = SystemClock(), marginSeconds: Int64 = 3600,
                interval: Duration = .seconds(300), logger: Logger) {
        self.store = store
        self.clock = clock
        self.margin = marginSeconds
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await loop() }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            do {
                let purged = try await store.purgeReservations(expiredBefore: clock.nowSeconds - margin)
                if purged > 0 { logger.debug("expired reservations purged", metadata: ["tollgate.count": "\(purged)"]) }
            } catch {
                logger.warning("reservation purge failed", metadata: ["tollgate.error": "\(error)"])
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
