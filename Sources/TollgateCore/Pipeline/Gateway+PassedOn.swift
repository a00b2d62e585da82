import Crypto
import HTTPTypes
import Logging

extension Gateway {
    /// Why a delivered answer cannot be passed on.
    struct DeliveryRefusal: Error {
        var reason: Reason
        var detail: String
        var events: [AuditEvent]
    }

    /// An upstream answer passed on as it is (a free route, an answer that was not charged): private fields are
    /// removed from it as from a paid one, and one that cannot be filtered is not passed on at all.
    func passedOn(_ answer: UpstreamResponse, route: Route?, identity: Identity, flow: Flow,
                  extra: HTTPFields = [:]) async -> GatewayResponse {
        var fields = HopByHop.response(answer.headerFields)
        fields.append(contentsOf: extra)
        guard let route else { return GatewayResponse(status: answer.status, headerFields: fields, body: answer.body) }
        switch DeliveryFilter.privateFields(answer, route: route, identity: identity, flow: flow, atMillis: clock.nowMillis()) {
        case .success(let (filtered, events)):
            await audit.record(contentsOf: events)
            return GatewayResponse(status: answer.status, headerFields: fields, body: filtered.body)
        case .failure(let refusal):
            await audit.record(contentsOf: refusal.events)
            return await deny(.badGateway, "bad_gateway", .respond, refusal.reason, flow: flow, detail: refusal.detail)
        }
    }
}

extension HTTPField.Name {
    /// The refund recorded for a settled request that was not delivered.
    public static let tollgateRefund = HTTPField.Name("Tollgate-Refund")!
    /// Units left in the client's package after a prepaid request.
    public static let tollgatePackageBalance = HTTPField.Name("Tollgate-Package-Balance")!
}
