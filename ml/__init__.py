"""Clearance and arrest models: features from the marts, XGBoost training, batch scoring."""
