import Logging
import ServiceLifecycle

/// Keeps the claims this process works on live for the other processes sharing its store: every
/// `TollgateStore.claimRenewalInterval` it renews the leases of the proofs in flight (`PaymentsInFlight`). A claim whose
/// request waits on a slow upstream or facilitator for longer than the store's grace period is therefore not taken over
/// by a copy of its proof at another instance, which would run the work again or refund it while it runs; a claim
/// whose process stopped is no longer renewed, and is taken over once its lease lapses.
public struct ClaimLeaseRenewer: Service {
    let store: any TollgateStore
    let inFlight: PaymentsInFlight
    /// How often the leases are renewed.
    public let interval: Duration
    let logger: Logger

    public init(store: any TollgateStore, inFlight: PaymentsInFlight, interval: Duration, logger: Logger) {
        self.store = store
        self.inFlight = inFlight
        self.interval = interval
        self.logger = logger
    }

    /// Renews at a fixed rate (a slow renewal does not push the next one back by its own length), never two at once.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var next = clock.now + interval
            while !Task.isCancelled {
                do {
                    try await Task.sleep(until: next, clock: clock)
                } catch {
                    return
                }
                await renew()
                next = max(next + interval, clock.now)
            }
        }
    }

    /// One pass. A failure is logged: the next pass renews what is still in flight (a database that stays away fails
    /// the claims' own writes as well).
    public func renew() async {
        let keys = inFlight.all
        guard !keys.isEmpty else { return }
        do {
            try await store.renewClaims(keys)
        } catch {
            logger.warning("claim leases not renewed", metadata: ["tollgate.count": "\(keys.count)", "tollgate.error": "\(error)"])
        }
    }
}

extension Gateway {
    /// The renewer of this gateway's claims in flight, when its store is shared (`TollgateStore.claimRenewalInterval`).
    public func claimLeaseRenewer(logger: Logger) -> ClaimLeaseRenewer? {
        store.claimRenewalInterval.map { ClaimLeaseRenewer(store: store, inFlight: inFlight, interval: $0, logger: logger) }
    }
}
