//! Realistic sample sessions for `lux demo`.
