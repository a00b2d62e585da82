/// `GatewayAssembly` is built from a `GatewayConfiguration`: whoever imports TollgateGateway gets the configuration
/// model with it.
@_exported import TollgateConfiguration
