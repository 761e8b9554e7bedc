"""征求意见: the suggestion box."""
