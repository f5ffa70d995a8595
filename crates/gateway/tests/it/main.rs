//! Integration tests of the gateway against real servers: a local HTTP
//! server answering as a webhook receiver, Twilio, FCM and APNs (HTTP/2),
//! and a real SMTP server process (aiosmtpd, installed by `make deps`).

mod email;
mod gateway;
mod push;
mod sms;
mod support;
mod webhook;
