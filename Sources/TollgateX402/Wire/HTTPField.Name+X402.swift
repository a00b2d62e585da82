import HTTPTypes

/// The x402 header names, each made once: a name is checked when it is made, and the rails name them on every 402 and
/// every paid request.
extension HTTPField.Name {
    static let x402PaymentRequired = HTTPField.Name(X402.paymentRequiredHeader)!
    public static let x402PaymentSignature = HTTPField.Name(X402.paymentSignatureHeader)!
    static let x402PaymentResponse = HTTPField.Name(X402.paymentResponseHeader)!
    public static let x402LegacyPayment = HTTPField.Name(X402.legacyPaymentHeader)!
    static let x402V1Payment = HTTPField.Name(X402V1.paymentHeader)!
    static let x402V1PaymentResponse = HTTPField.Name(X402V1.paymentResponseHeader)!
}
