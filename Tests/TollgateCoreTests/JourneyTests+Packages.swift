import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// Package balances: units held, spent, or offered again when the balance does not cover a request.
extension JourneyTests {
    // MARK: package balances

    /// A journey on a package route whose request carries no proof: the next action spends the paid budget.
    static func prepaid() -> Journey {
        var route = GatewayHarness.datasets
        route.pricing?.metering = Metering(package: Metering.Package(name: "credits", units: 10))
        var journey = decoding(proof: false, settings: settings(routes: RouteTable([route])))
        guard case .admit(let probe) = journey.next(.proofDecoded(.absent), at: now), probe.trafficClass == .paid else {
            fatalError("a client on a package route spends its paid budget first")
        }
        return journey
    }

    @Test func aPackageBalancePaysWithoutA402() {
        var journey = Self.prepaid()
        guard case .holdUnits(let hold, _) = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("units are held before forwarding")
            return
        }
        #expect(hold.clientId == "alice" && hold.package == "credits" && hold.units == 1)
        guard case .forward(let contract) = journey.next(.unitsHeld(.success(.held(remaining: 4))), at: Self.now) else {
            Issue.record("held units let the request through")
            return
        }
        #expect(contract.amount == "package credits" && contract.payer == "")
        let answer = UpstreamResponse(status: .ok, headerFields: [:], body: Array("rows".utf8))
        guard case .finishUnits(_, let consumed, let usage?, let events) = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 1), at: Self.now) else {
            Issue.record("the consumed units are spent with the usage")
            return
        }
        #expect(consumed == 1 && usage.source == .package)
        #expect(events.map(\.stage) == [.forward, .meter, .respond])
        guard case .respond(.delivered(let response)) = journey.next(.unitsSpent(true), at: Self.now) else {
            Issue.record("a recorded spend is served")
            return
        }
        #expect(response.headerFields[.tollgatePackageBalance] == "4 request")

        var unrecorded = Self.prepaid()
        _ = unrecorded.next(.admitted(nil), at: Self.now)
        _ = unrecorded.next(.unitsHeld(.success(.held(remaining: 4))), at: Self.now)
        _ = unrecorded.next(.upstreamAnswered(.success(answer), elapsedMillis: 1), at: Self.now)
        #expect(unrecorded.next(.unitsSpent(false), at: Self.now).denial?.status == .serviceUnavailable)
    }

    @Test func aBalanceThatDoesNotCoverTheRequestIsOfferedThePackage() {
        var journey = Self.prepaid()
        _ = journey.next(.admitted(nil), at: Self.now)
        guard case .admit(let probe) = journey.next(.unitsHeld(.success(.insufficient(balance: 0))), at: Self.now) else {
            Issue.record("then the unpaid budget, as for any request without a proof")
            return
        }
        #expect(probe.trafficClass == .unpaid)
        guard case .respond(.offer(_, .paymentRequired, let detail?)) = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("a 402 offering the package")
            return
        }
        #expect(detail.contains("buy 10 more"))
    }

    @Test func aPrepaidRequestNotDeliveredSpendsNothing() {
        var journey = Self.prepaid()
        _ = journey.next(.admitted(nil), at: Self.now)
        _ = journey.next(.unitsHeld(.success(.held(remaining: 4))), at: Self.now)
        guard case .finishUnits(_, 0, nil, _) = journey.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("nothing is spent when the upstream does not answer")
            return
        }
        // Even if that release cannot be recorded (the hold stays: nothing is given away), the answer is the 502.
        #expect(journey.next(.unitsSpent(false), at: Self.now).denial?.status == .badGateway)
    }
}
