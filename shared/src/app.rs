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
            notifier: match common.notify.email_from {
                // Built only where e-mail is on: without a sender no SES client is made.
                Some(_) => {
                    crate::notify::Notifier::new(http, common.notify.clone()).with_ses(Store::ses_client_from_env())
                }
                None => crate::notify::Notifier::new(http, common.notify.clone()),
            },
        }
    }
}
