//! The one wiring: configuration read once, clients built once, borrowed by every flow.

use crate::config::CommonConfig;
use crate::store::Store;
use crate::tapd::TapdClient;
use crate::tdoc::TdocClient;
use crate::upstream::http_client;

/// The clients both functions use, sharing one HTTP connection pool.
pub struct Clients {
    pub store: Store,
    pub tapd: TapdClient,
    pub tdoc: TdocClient,
    pub notifier: crate::notify::Notifier,
}

impl Clients {
    /// Builds the clients from the configuration, once per process, at init.
    pub async fn build(common: &CommonConfig) -> Self {
        let http = http_client(common.http_timeout);
        Self {
            store: Store::new(Store::client_from_env().await, common.table_name.clone(), common.keys.clone()),
            tapd: TapdClient::new(http.clone(), common.tapd.clone()),
            tdoc: TdocClient::new(http.clone(), common.tdoc.clone()),
            notifier: crate::notify::Notifier::new(http, common.notify.clone()),
        }
    }

    /// E-mail on (for the function that sends it, tapd-webhook): the SES client, built once,
    /// where the configuration names a sender. The console's function never calls this, so
    /// neither the client nor the SES SDK's code is in its binary or its init.
    pub fn with_email(mut self) -> Self {
        if self.notifier.cfg.email_from.is_some() {
            self.notifier = self.notifier.with_ses(Store::ses_client_from_env());
        }
        self
    }
}
