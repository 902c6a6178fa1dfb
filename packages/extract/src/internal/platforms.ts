/**
 * Shop-platform price markup: the themes' price elements when a page has no
 * structured data. Detection is by the platform's fingerprints in the HTML.
 */
export interface Platform {
  readonly name: string
  readonly detect: RegExp
  /** Tried in order; the first selector that matches an element wins. */
  readonly price: ReadonlyArray<string>
  readonly regular: ReadonlyArray<string>
  readonly name_: ReadonlyArray<string>
  readonly availability: ReadonlyArray<string>
  /** Attributes holding a machine-readable amount, read before the text. */
  readonly amountAttributes: ReadonlyArray<string>
  readonly confidence: number
}

export const PLATFORMS: ReadonlyArray<Platform> = [
  {
    name: "Shopify",
    detect: /cdn\.shopify\.com|Shopify\.theme|shopify-section/,
    price: [
      ".product .price--on-sale .price-item--sale",
      ".product .price__regular .price-item--regular",
      "[data-product-price]",
      ".product__price--sale",
      ".product-single__price",
      ".product__price",
      "#ProductPrice",
      ".price--on-sale .price-item--sale",
      ".price-item--regular"
    ],
    regular: [".product .price--on-sale s.price-item--regular", "[data-compare-price]", ".product__price--compare", ".product-single__price--compare"],
    name_: [".product__title h1", "h1.product__title", ".product-single__title", "h1"],
    availability: ["button[name=add]", ".product-form__submit", "[data-add-to-cart-text]"],
    amountAttributes: [],
    confidence: 0.6
  },
  {
    name: "WooCommerce",
    detect: /woocommerce/i,
    price: [".summary .price", ".entry-summary .price", ".product p.price", "p.price"],
    regular: [".summary .price del", ".entry-summary .price del"],
    name_: [".product_title", "h1.entry-title", "h1"],
    availability: [".summary .stock", ".stock", ".single_add_to_cart_button"],
    amountAttributes: [],
    confidence: 0.6
  },
  {
    name: "Magento",
    detect: /Magento_|data-mage-init|text\/x-magento-init/,
    price: [
      ".product-info-main [data-price-type=finalPrice]",
      ".product-info-price [data-price-type=finalPrice]",
      "[data-price-type=finalPrice]",
      ".product-info-main .price"
    ],
    regular: [".product-info-main [data-price-type=oldPrice]", "[data-price-type=oldPrice]"],
    name_: [".page-title .base", "h1.page-title", "h1"],
    availability: [".product-info-main .stock", ".stock"],
    amountAttributes: ["data-price-amount"],
    confidence: 0.6
  },
  {
    name: "PrestaShop",
    detect: /prestashop/i,
    price: [
      ".product-prices .current-price [content]",
      ".current-price-value",
      ".product-prices .current-price",
      "#our_price_display",
      ".our_price_display"
    ],
    regular: [".product-discount .regular-price", ".regular-price", "#old_price_display"],
    name_: ["h1.product-detail-name", "h1.h1", "h1"],
    availability: ["#product-availability", "#availability_value", ".product-availability"],
    amountAttributes: ["content"],
    confidence: 0.6
  }
]

/** No platform recognized: the conventional class names, trusted least. */
export const GENERIC: Platform = {
  name: "generic",
  detect: /(?:)/,
  price: ["[data-price-amount]", ".product-price", ".product__price", "#price", ".price"],
  regular: [".old-price", ".was-price", ".price-old", ".regular-price"],
  name_: ["h1"],
  availability: [".availability", ".stock"],
  amountAttributes: ["data-price-amount", "content"],
  confidence: 0.45
}

/** The platform whose fingerprint the page carries, or the generic fallback. */
export const detectPlatform = (html: string): Platform => PLATFORMS.find((p) => p.detect.test(html)) ?? GENERIC
