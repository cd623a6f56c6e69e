DROP TABLE natter_settings;
