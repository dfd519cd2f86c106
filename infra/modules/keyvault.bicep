// Key Vault for the few secrets the app cannot avoid: the Dynamics webhook shared secret, the admin API key
// and, in clientSecret mode only, the Graph/Dataverse app registration's client secret. RBAC authorization
// (no access policies), soft delete and purge protection on. The app identity may read secrets (Key Vault
// Secrets User, on this vault only) to resolve its Key Vault references; nobody gets keys or certificates.
// A secret is written only when its parameter is non-empty, so later deployments keep the stored values.

param location string
param tags object
param name string
@description('Principal (object) id of the app identity.')
param principalId string
param secretsExpireAt int
@secure()
param dynamicsWebhookSecret string
@secure()
param adminApiKey string
@secure()
param webhookSecretKey string = ''
@secure()
param upstreamClientSecret string
@secure()
param manageLinkKey string = ''

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Only the secrets given a value are written (empty = keep what the vault holds).
var webhookSecretEntry = empty(dynamicsWebhookSecret) ? [] : [
  {
    name: 'dynamics-webhook-secret'
    value: dynamicsWebhookSecret
  }
]
var adminKeyEntry = empty(adminApiKey) ? [] : [
  {
    name: 'admin-api-key'
    value: adminApiKey
  }
]
var webhookKeyEntry = empty(webhookSecretKey) ? [] : [
  {
    name: 'webhook-secret-key'
    value: webhookSecretKey
  }
]
var clientSecretEntry = empty(upstreamClientSecret) ? [] : [
  {
    name: 'graph-client-secret'
    value: upstreamClientSecret
  }
]
var manageLinkKeyEntry = empty(manageLinkKey) ? [] : [
  {
    name: 'manage-link-key'
    value: manageLinkKey
  }
]
var secretsToWrite = concat(webhookSecretEntry, adminKeyEntry, webhookKeyEntry, clientSecretEntry, manageLinkKeyEntry)

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for secret in secretsToWrite: {
    parent: vault
    name: secret.name
    properties: {
      value: secret.value
      contentType: 'text/plain'
      attributes: {
        enabled: true
        exp: secretsExpireAt
      }
    }
  }
]

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUser)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

output id string = vault.id
output uri string = vault.properties.vaultUri
