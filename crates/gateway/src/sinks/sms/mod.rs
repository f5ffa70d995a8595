//! SMS adapter: Twilio-compatible REST (`POST
//! {base_url}/2010-04-01/Accounts/{sid}/Messages.json`, form body, basic
//! auth), URLs replaced by short links from a [`Shortener`] (R-P3), and the
//! `X-Twilio-Signature` check the daemon's `/inbound/sms` uses
//! ([`twilio_signature`]).

mod config;
mod service;
mod shortener;
pub mod twilio_signature;

pub use config::{SmsConfig, SmsProvider};
pub use service::TwilioAdapter;
pub use shortener::{MemoryShortener, ShortLink, ShortenError, Shortener, shorten_urls};
