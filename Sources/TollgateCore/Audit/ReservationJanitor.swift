import Logging
import ServiceLifecycle

/// Deletes reservations of proofs that can no longer be presented (their `validBefore` plus a margin
/// has passed), so the reservation table stays bounded. Settled and in-doubt claims are kept. What flows that never
/// ended still hold comes back: an abandoned claim's spend goes back to its caps as it is purged, and units held by a
/// prepaid request that never finished go back to their balance `PackageUnits.lapseSeconds` after they were held.
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
            await sweep()
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// One pass: purges expired claims (an abandoned one's spend goes back to its caps) and gives back the units of
    /// prepaid requests that never finished. A failure is logged and tried again at the next pass.
    public func sweep() async {
        do {
            let purged = try await store.purgeReservations(expiredBefore: clock.nowSeconds - margin)
            if purged > 0 { logger.debug("expired reservations purged", metadata: ["tollgate.count": "\(purged)"]) }
        } catch {
            logger.warning("reservation purge failed", metadata: ["tollgate.error": "\(error)"])
        }
        do {
            let lapsed = try await store.lapseUnitHolds(heldBeforeMillis: (clock.nowSeconds - PackageUnits.lapseSeconds) * 1000)
            if lapsed > 0 { logger.notice("units of unfinished prepaid requests given back", metadata: ["tollgate.count": "\(lapsed)"]) }
        } catch {
            logger.warning("unit hold lapse failed", metadata: ["tollgate.error": "\(error)"])
        }
    }
}
