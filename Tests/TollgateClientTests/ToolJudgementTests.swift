import Testing
import TollgateCore
import TollgateMCP
@testable import TollgateClient

/// What a tool call's answer to a proof says of the payment.
@Suite struct ToolJudgementTests {
    /// A tool asking for input before it runs (`resultType: "input_required"`, the per-request era) was not delivered:
    /// the gateway passes the question back unpaid and keeps the authorization for the call that answers it. Counted
    /// delivered, the purchase was closed with no transaction and the next run signed a new authorization.
    @Test func aQuestionFromTheToolIsNoDelivery() {
        let asked = JSONRPCMessage.result(id: .integer(1), .object([
            "resultType": .string("input_required"), "content": .array([]),
        ]))
        let judgement = PaymentClient.judge(asked)
        #expect(judgement.ending != .delivered)
        #expect(judgement.reason?.contains("input_required") == true)

        let answered = JSONRPCMessage.result(id: .integer(1), .object(["content": .array([])]))
        #expect(PaymentClient.judge(answered).ending == .delivered)
    }
}
